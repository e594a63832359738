package discovery

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Sentinel errors. Every error returned by this package matches one of them
// with errors.Is (except a caller's own context cancellation, which matches
// context.Canceled or context.DeadlineExceeded), and keeps the underlying
// cause (an indigo, net/http or safehttp error) reachable through
// errors.Is/As.
var (
	// ErrInvalidIdentifier: the input is not a handle, DID or usable
	// http(s) URL, uses a reserved TLD or an unsupported DID method, or an
	// issuer/PDS URL given to a method is not a valid origin.
	ErrInvalidIdentifier = errors.New("discovery: invalid identifier")
	// ErrHandleNotFound: the handle does not resolve to a DID.
	ErrHandleNotFound = errors.New("discovery: handle not found")
	// ErrHandleMismatch: the handle resolves to a DID whose document does not
	// claim the handle back (atproto handle spec: bidirectional
	// verification).
	ErrHandleMismatch = errors.New("discovery: handle and DID do not match")
	// ErrDIDNotFound: the DID has no document.
	ErrDIDNotFound = errors.New("discovery: DID not found")
	// ErrInvalidDIDDocument: the DID document is malformed, too large, or its
	// "id" is not the DID that was resolved.
	ErrInvalidDIDDocument = errors.New("discovery: invalid DID document")
	// ErrNoPDS: the DID document names no usable atproto PDS (a service
	// "#atproto_pds" of type AtprotoPersonalDataServer with an http(s)
	// origin URL).
	ErrNoPDS = errors.New("discovery: no usable PDS in DID document")
	// ErrUnreachable: a server could not be reached or gave no usable answer
	// (network error, timeout, refused address, unexpected status from an
	// identity service).
	ErrUnreachable = errors.New("discovery: server unreachable")
	// ErrInvalidMetadata: protected resource or authorization server metadata
	// failed a check (see [MetadataError]).
	ErrInvalidMetadata = errors.New("discovery: invalid server metadata")
	// ErrIssuerMismatch: the authorization server is not the one the
	// account's PDS designates (see [IssuerMismatchError]).
	ErrIssuerMismatch = errors.New("discovery: authorization server is not authoritative for the account")
)

// Two groups of the sentinels above, for callers that only need to know
// whom to tell: each error of this package that matches one of the group's
// members matches the group too.
var (
	// ErrAccountNotFound groups the answers that the identifier leads to
	// no usable account — ErrInvalidIdentifier, ErrHandleNotFound,
	// ErrHandleMismatch, ErrDIDNotFound, ErrInvalidDIDDocument, ErrNoPDS:
	// the person should check what they typed.
	ErrAccountNotFound = errors.New("discovery: no usable account for this identifier")
	// ErrServerProblem groups the failures of the account's servers or of
	// the network — ErrUnreachable, ErrInvalidMetadata, ErrIssuerMismatch:
	// try again later, or tell the server's operator.
	ErrServerProblem = errors.New("discovery: the account's servers could not be used")
)

// group returns the group of a sentinel, or nil.
func group(kind error) error {
	switch kind {
	case ErrInvalidIdentifier, ErrHandleNotFound, ErrHandleMismatch, ErrDIDNotFound, ErrInvalidDIDDocument, ErrNoPDS:
		return ErrAccountNotFound
	case ErrUnreachable, ErrInvalidMetadata, ErrIssuerMismatch:
		return ErrServerProblem
	}
	return nil
}

// ResolveError reports a failure to resolve an identifier (handle, DID, PDS
// or server URL). It matches its Kind with errors.Is and unwraps to Err.
type ResolveError struct {
	// Input is what was being resolved: a handle, DID or URL.
	Input string
	// Kind is one of this package's sentinel errors.
	Kind error
	// Err is the underlying cause; may be nil.
	Err error
}

func (e *ResolveError) Error() string {
	var b strings.Builder
	b.WriteString("discovery: ")
	b.WriteString(strings.TrimPrefix(e.Kind.Error(), "discovery: "))
	fmt.Fprintf(&b, " (%q)", e.Input)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Hint says what a failure of its Kind usually means and what to do.
func (e *ResolveError) Hint() string {
	switch e.Kind {
	case ErrInvalidIdentifier:
		return "sign in with a handle (alice.bsky.social), a DID (did:plc:…) or the https address of a PDS"
	case ErrHandleNotFound:
		return "no account answers to this handle: check its spelling, or sign in with the DID or the PDS's address"
	case ErrHandleMismatch:
		return "the handle points to an account whose DID document does not claim it back; sign in with the DID instead"
	case ErrDIDNotFound:
		return "the DID has no document (a typo, or an account that was deleted)"
	case ErrInvalidDIDDocument, ErrNoPDS:
		return "the account's DID document names no usable PDS; its owner must fix it"
	case ErrUnreachable:
		return "a server could not be reached, or a handle could not be checked: check the connection and try again"
	}
	return ""
}

// Is matches the group of Kind (ErrAccountNotFound or ErrServerProblem).
func (e *ResolveError) Is(target error) bool { return target != nil && target == group(e.Kind) }

// Unwrap returns Kind and, when set, Err.
func (e *ResolveError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func resolveErr(input string, kind, cause error) error {
	return &ResolveError{Input: input, Kind: kind, Err: cause}
}

// MetadataError reports server metadata (RFC 9728 protected resource
// metadata or RFC 8414 authorization server metadata) that fails a check of
// the atproto OAuth profile, or a metadata response that is not a 200
// application/json document of acceptable size. It matches
// [ErrInvalidMetadata] with errors.Is.
type MetadataError struct {
	// URL is the metadata document's URL.
	URL string
	// Field is the JSON member at fault, or "" when the response as a whole
	// is (status, content type, size, redirect, syntax).
	Field string
	// Reason says what is wrong, in English.
	Reason string
	// StatusCode is the HTTP status when it was not 200, else 0.
	StatusCode int
	// Err is an underlying cause (JSON syntax error, safehttp.ErrTooLarge,
	// safehttp.ErrRedirect, ...); may be nil.
	Err error
}

func (e *MetadataError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "discovery: invalid server metadata at %q: ", e.URL)
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Is reports whether target is [ErrInvalidMetadata] or its group,
// [ErrServerProblem].
func (e *MetadataError) Is(target error) bool {
	return target == ErrInvalidMetadata || target == ErrServerProblem
}

// Unwrap returns the underlying cause.
func (e *MetadataError) Unwrap() error { return e.Err }

// Hint says what to do about server metadata that failed a check.
func (e *MetadataError) Hint() string {
	return "the account's server is not set up for atproto OAuth as the spec requires; its operator must fix it (atoauth doctor <handle> shows the check)"
}

// Hint says why an issuer mismatch stops a login or a session.
func (e *IssuerMismatchError) Hint() string {
	return "the account's PDS names another authorization server: the account moved, or a server claims an account it does not host; sign in again"
}

// IssuerMismatchError reports that the authorization server designated by an
// account's PDS is not the expected issuer (atproto OAuth spec, "Identity
// Authentication"). It matches [ErrIssuerMismatch] with errors.Is.
type IssuerMismatchError struct {
	DID syntax.DID
	// PDS is the PDS origin from the DID document.
	PDS string
	// Expected is the issuer that was to be verified.
	Expected string
	// Actual is the authorization server the PDS designates.
	Actual string
}

func (e *IssuerMismatchError) Error() string {
	return fmt.Sprintf("discovery: authorization server %q is not authoritative for %s: its PDS %q designates %q",
		e.Expected, e.DID, e.PDS, e.Actual)
}

// Unwrap returns [ErrIssuerMismatch].
func (e *IssuerMismatchError) Unwrap() error { return ErrIssuerMismatch }

// Is matches [ErrServerProblem], the group of ErrIssuerMismatch.
func (e *IssuerMismatchError) Is(target error) bool { return target == ErrServerProblem }
