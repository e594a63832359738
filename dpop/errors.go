package dpop

import (
	"errors"
	"strconv"
)

// Sentinel errors. Errors returned by this package wrap one of them (or pass
// through an error from the underlying transport), so they can be tested
// with [errors.Is]. No error returned by this package contains an access
// token, a proof, a nonce or key material.
var (
	// ErrNoKey reports a proof requested without a signing key.
	ErrNoKey = errors.New("dpop: no signing key")

	// ErrInvalidURL reports a request URL that cannot be the target of a
	// DPoP proof: not absolute http(s), or without a host (RFC 9449 §4.2).
	ErrInvalidURL = errors.New("dpop: invalid request URL")

	// ErrInvalidMethod reports an HTTP method that is not an RFC 9110 §9.1
	// token.
	ErrInvalidMethod = errors.New("dpop: invalid HTTP method")

	// ErrInvalidNonce reports a nonce that is not 1*NQCHAR
	// (RFC 9449 §8, RFC 6749 Appendix A) of at most MaxNonceLen bytes.
	ErrInvalidNonce = errors.New("dpop: invalid nonce")

	// ErrBodyTooLarge reports a request body that Transport had to buffer
	// for a possible retry and that exceeds MaxBufferedBody.
	ErrBodyTooLarge = errors.New("dpop: request body too large to buffer")

	// ErrMalformedHeader reports a WWW-Authenticate field value that does
	// not follow RFC 9110 §11.6.1.
	ErrMalformedHeader = errors.New("dpop: malformed WWW-Authenticate header")
)

// URLError reports why a URL was rejected. It does not include the URL,
// whose query may hold secrets.
type URLError struct {
	Reason string
}

// Error implements the error interface.
func (e *URLError) Error() string { return ErrInvalidURL.Error() + ": " + e.Reason }

// Unwrap returns ErrInvalidURL.
func (e *URLError) Unwrap() error { return ErrInvalidURL }

// BodyTooLargeError reports a request body larger than Limit bytes that
// Transport could not buffer for replay. No truncated body was sent.
type BodyTooLargeError struct {
	Limit int64
}

// Error implements the error interface.
func (e *BodyTooLargeError) Error() string {
	return ErrBodyTooLarge.Error() + " for replay (limit " + strconv.FormatInt(e.Limit, 10) + " bytes; set Request.GetBody to avoid buffering)"
}

// Unwrap returns ErrBodyTooLarge.
func (e *BodyTooLargeError) Unwrap() error { return ErrBodyTooLarge }

// HeaderError reports where and why a WWW-Authenticate value failed to
// parse. It does not include the value.
type HeaderError struct {
	Offset int // byte offset of the problem in the field value
	Reason string
}

// Error implements the error interface.
func (e *HeaderError) Error() string {
	return ErrMalformedHeader.Error() + " at byte " + strconv.Itoa(e.Offset) + ": " + e.Reason
}

// Unwrap returns ErrMalformedHeader.
func (e *HeaderError) Unwrap() error { return ErrMalformedHeader }
