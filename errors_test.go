package atoauth_test

import (
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/auth"
)

// The errors of the OAuth client explain themselves (auth.Hinter).
func TestErrorsHaveHints(t *testing.T) {
	var _ auth.Hinter = (*atoauth.OAuthError)(nil)
	var _ auth.Hinter = (*atoauth.CallbackError)(nil)
	var _ auth.Hinter = (*atoauth.RefreshError)(nil)
	for _, err := range []error{
		&atoauth.OAuthError{Endpoint: "refresh", StatusCode: 400, Code: "invalid_grant"},
		&atoauth.OAuthError{Endpoint: "par", StatusCode: 400, Code: "invalid_client"},
		&atoauth.CallbackError{Code: "access_denied"},
		&atoauth.RefreshError{Temporary: true},
		&atoauth.RefreshError{Err: &atoauth.OAuthError{Code: "invalid_grant"}},
	} {
		if auth.Hint(err) == "" {
			t.Errorf("%v has no hint", err)
		}
	}
}
