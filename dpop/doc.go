// Package dpop implements the client side of OAuth 2.0 Demonstrating
// Proof of Possession (DPoP, RFC 9449) with ES256 keys from package jwk:
// proof creation ([NewProof]), server nonce handling ([NonceCache],
// [IsNonceChallenge], and [NonceStore] to share nonces between the
// processes of a fleet) and an [http.RoundTripper] that does both
// ([Transport]).
//
// For AT Protocol OAuth, every request to the authorization server and to
// the PDS carries a fresh proof; requests to the PDS also carry
// "Authorization: DPoP <access token>" and an "ath" claim binding the proof
// to that token (RFC 9449 §7). Requests to the authorization server must not
// carry "ath". [Transport] derives this from the request itself.
package dpop
