package scope

import (
	"errors"
	"fmt"
)

// ErrInvalid matches every *[ParseError]: a scope string or permission that
// does not follow the permission spec (https://atproto.com/specs/permission).
var ErrInvalid = errors.New("scope: invalid")

var errMalformedEscape = errors.New("malformed percent-encoding")

// ParseError reports a scope token that is not a valid permission. It
// matches [ErrInvalid].
type ParseError struct {
	// Token is the offending space-separated scope token.
	Token string
	// Reason says what is wrong, in plain words.
	Reason string
}

// Error implements the error interface.
func (e *ParseError) Error() string {
	return fmt.Sprintf("scope: invalid permission %q: %s", e.Token, e.Reason)
}

// Unwrap returns [ErrInvalid].
func (e *ParseError) Unwrap() error { return ErrInvalid }
