package atoauthtest

import "time"

// ReferenceNonceWindow is the nonce rotation interval of the reference
// server (@atproto/oauth-provider DpopNonce: DPOP_NONCE_MAX_AGE / 3, with
// DPOP_NONCE_MAX_AGE 3 minutes), for [Tamper.NonceWindow].
const ReferenceNonceWindow = time.Minute

// windowNonce is the nonce a verifier sends under Tamper.NonceWindow: the
// nonce of window k+1, sent during window k.
type windowNonce struct {
	size  time.Duration
	k     int64
	nonce string
}

// issueFor returns the nonce to send on a response under tamper t.
func (v *dpopVerifier) issueFor(t Tamper) string {
	if t.NoNonceRotation || t.NonceWindow <= 0 {
		return v.issue(!t.NoNonceRotation)
	}
	return v.issueWindow(t.NonceWindow)
}

// issueWindow returns the nonce of the window after the current one,
// minting it the first time. Like the reference server, which accepts the
// previous, current and next window's nonce, the fake accepts it until
// the end of window k+2: it is recorded as issued 3 windows before that
// end, and verify accepts a nonce for nonceWindow (3 minutes) after its
// issue, which for 60-second windows is exactly the start of window k.
func (v *dpopVerifier) issueWindow(size time.Duration) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.clock()
	k := now.UnixNano() / int64(size)
	if v.window.nonce == "" || v.window.size != size || v.window.k != k {
		v.window = windowNonce{size: size, k: k, nonce: randomToken("", 16)}
		end := time.Unix(0, (k+3)*int64(size))
		v.issued[v.window.nonce] = end.Add(-nonceWindow)
		v.order = append(v.order, v.window.nonce)
		if len(v.order) > nonceKeep {
			delete(v.issued, v.order[0])
			v.order = v.order[1:]
		}
		v.cur = v.window.nonce
	}
	return v.window.nonce
}
