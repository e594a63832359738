package discovery_test

import (
	"errors"
	"testing"

	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/discovery"
)

// Callers of a login need two groups, not ten sentinels; every error of
// the package has a hint.
func TestErrorGroupsAndHints(t *testing.T) {
	for _, tc := range []struct {
		err   error
		group error
	}{
		{&discovery.ResolveError{Input: "x", Kind: discovery.ErrInvalidIdentifier}, discovery.ErrAccountNotFound},
		{&discovery.ResolveError{Input: "x", Kind: discovery.ErrHandleNotFound}, discovery.ErrAccountNotFound},
		{&discovery.ResolveError{Input: "x", Kind: discovery.ErrHandleMismatch}, discovery.ErrAccountNotFound},
		{&discovery.ResolveError{Input: "x", Kind: discovery.ErrDIDNotFound}, discovery.ErrAccountNotFound},
		{&discovery.ResolveError{Input: "x", Kind: discovery.ErrNoPDS}, discovery.ErrAccountNotFound},
		{&discovery.ResolveError{Input: "x", Kind: discovery.ErrInvalidDIDDocument}, discovery.ErrAccountNotFound},
		{&discovery.ResolveError{Input: "x", Kind: discovery.ErrUnreachable}, discovery.ErrServerProblem},
		{&discovery.MetadataError{URL: "u", Reason: "r"}, discovery.ErrServerProblem},
		{&discovery.IssuerMismatchError{}, discovery.ErrServerProblem},
	} {
		other := discovery.ErrServerProblem
		if tc.group == other {
			other = discovery.ErrAccountNotFound
		}
		if !errors.Is(tc.err, tc.group) || errors.Is(tc.err, other) {
			t.Errorf("%v: group wrong", tc.err)
		}
		if auth.Hint(tc.err) == "" {
			t.Errorf("%v has no hint", tc.err)
		}
	}
	// The specific sentinels still match.
	if !errors.Is(&discovery.IssuerMismatchError{}, discovery.ErrIssuerMismatch) || !errors.Is(&discovery.MetadataError{}, discovery.ErrInvalidMetadata) {
		t.Fatal("a specific sentinel no longer matches")
	}
}
