package atoauth

import (
	"errors"
	"fmt"
)

// ErrOtherClient reports a session that was created by another client
// (another client_id) than the Client asked to use it. Client.Session,
// Client.Logout and a step-up's Callback (CallbackOptions.Replace; except
// a loopback client replacing another loopback client's session) refuse
// such a session, before any request is sent, because its tokens are bound
// to the client that obtained them:
//
//   - the authorization server refreshes and revokes a token only for the
//     client it was issued to (RFC 6749 §6, RFC 7009 §2.1), so a refresh
//     with another client_id fails with invalid_grant — and a refresh that
//     fails definitively ends the session (ErrSessionExpired), destroying
//     a session its own client could still use;
//   - a confidential session is bound to the client key it was created
//     with (SessionData.ClientKeyID), which another client may not hold;
//   - a loopback client's client_id carries its scope, so the same
//     program asking for another scope is another client.
//
// Use the session with the client whose ClientID is the session's
// SessionData.ClientID (for a loopback client, ParseLoopbackClientID
// rebuilds its Config). The error is an *OtherClientError naming both.
//
// A session stored before atoauth recorded the client (SessionData.ClientID
// "") is accepted by any client, which adopts it: its ClientID is set and
// stored at its next refresh.
var ErrOtherClient = errors.New("atoauth: the session was created by another client")

// OtherClientError is the error for a session created by another client
// than the one asked to use it (see ErrOtherClient, which it matches). Both
// client_ids are public URLs, and the message shows them.
type OtherClientError struct {
	SessionClientID string // the client_id the session was created by
	ClientID        string // the client_id of the Client asked to use it
}

func (e *OtherClientError) Error() string {
	return fmt.Sprintf("atoauth: the session was created by client %s, not by this client %s; its tokens work only with the client that obtained them",
		cleanText(e.SessionClientID), cleanText(e.ClientID))
}

// Is lets errors.Is match ErrOtherClient.
func (e *OtherClientError) Is(target error) bool { return target == ErrOtherClient }

// owns tells whether d may be used by this client: it was created by it,
// or before the client was recorded (ClientID "").
func (c *Client) owns(d *SessionData) bool {
	return d.ClientID == "" || d.ClientID == c.md.ClientID
}

// checkClient returns an *OtherClientError when d was created by another
// client.
func (c *Client) checkClient(d *SessionData) error {
	if c.owns(d) {
		return nil
	}
	return &OtherClientError{SessionClientID: d.ClientID, ClientID: c.md.ClientID}
}

// loopbackSibling tells whether d, made by another client, was made by a
// loopback development client while c is one too: loopback clients differ
// only in the scope their client_id declares, and are all public, so a
// step-up to a larger scope is a login with another loopback client that
// replaces the session (CallbackOptions.Replace). The old tokens are
// revoked under the old client_id (see Client.revoke).
func (c *Client) loopbackSibling(d *SessionData) bool {
	if c.cfg.ClientID != "" || d.ClientKeyID != "" {
		return false
	}
	_, err := ParseLoopbackClientID(d.ClientID)
	return err == nil
}
