package atoauthtest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	// dpopMaxSkew is how far a proof's iat may be from the server clock.
	dpopMaxSkew = 10 * time.Second
	// jtiRetention is how long (by the fake clock) jti values are remembered.
	// Proofs older than dpopMaxSkew are rejected anyway.
	jtiRetention = 5 * time.Minute
)

// dpopVerifier checks DPoP proofs (RFC 9449) for one origin and keeps that
// origin's nonce sequence and jti replay cache.
type dpopVerifier struct {
	origin string
	clock  func() time.Time

	mu     sync.Mutex
	cur    string
	issued map[string]time.Time // recently issued nonces → when
	order  []string             // issued nonces, oldest first (at most nonceKeep)
	jtis   map[string]time.Time
	window windowNonce // the current nonce under Tamper.NonceWindow
}

const (
	// nonceWindow is how long an issued nonce stays acceptable, and
	// nonceKeep how many of the latest are. Nonces rotate on every
	// response; like the reference server, which accepts the previous,
	// current and next time-window nonce, the fake accepts recent ones so
	// that concurrent requests from one client are not starved.
	nonceWindow = 3 * time.Minute
	nonceKeep   = 256
)

func newDPoPVerifier(origin string, clock func() time.Time) *dpopVerifier {
	v := &dpopVerifier{
		origin: origin,
		clock:  clock,
		jtis:   map[string]time.Time{},
		issued: map[string]time.Time{},
	}
	v.rotateLocked()
	return v
}

// rotateLocked issues a new current nonce; v.mu must be held (or v unshared).
func (v *dpopVerifier) rotateLocked() {
	v.cur = randomToken("", 16)
	v.issued[v.cur] = v.clock()
	v.order = append(v.order, v.cur)
	if len(v.order) > nonceKeep {
		delete(v.issued, v.order[0])
		v.order = v.order[1:]
	}
}

// issue returns the nonce to send on a response, rotating first if asked.
func (v *dpopVerifier) issue(rotate bool) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if rotate {
		v.rotateLocked()
	}
	return v.cur
}

// dpopError is a rejected proof: code is use_dpop_nonce or
// invalid_dpop_proof.
type dpopError struct {
	code, desc string
}

func invalidProof(format string, args ...any) *dpopError {
	return &dpopError{code: "invalid_dpop_proof", desc: fmt.Sprintf(format, args...)}
}

// dpopProof is an accepted proof.
type dpopProof struct {
	jkt string // base64url SHA-256 JWK thumbprint (RFC 7638)
	jti string
}

type dpopClaims struct {
	JTI   string       `json:"jti"`
	HTM   string       `json:"htm"`
	HTU   string       `json:"htu"`
	IAT   *json.Number `json:"iat"`
	Nonce *string      `json:"nonce"`
	ATH   *string      `json:"ath"`
}

// verify checks the DPoP proof of r. accessToken is the token the request
// presents at a resource server ("" at the authorization server, where an
// ath claim is refused).
func (v *dpopVerifier) verify(r *http.Request, resource bool, accessToken string) (*dpopProof, *dpopError) {
	values := r.Header.Values("DPoP")
	switch {
	case len(values) == 0:
		return nil, invalidProof("DPoP proof required")
	case len(values) > 1:
		return nil, invalidProof("DPoP header must contain a single proof")
	case values[0] == "":
		return nil, invalidProof("DPoP header cannot be empty")
	}
	jws, err := jose.ParseSignedCompact(values[0], []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, invalidProof("DPoP proof is not an ES256 compact JWS: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, invalidProof("DPoP proof must have exactly one signature")
	}
	hdr := jws.Signatures[0].Protected
	if typ, _ := hdr.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return nil, invalidProof(`DPoP proof "typ" must be "dpop+jwt"`)
	}
	jwk := hdr.JSONWebKey
	if jwk == nil {
		return nil, invalidProof(`DPoP proof must carry its public key in "jwk"`)
	}
	pub, ok := jwk.Key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, invalidProof(`DPoP proof "jwk" must be a P-256 public key`)
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return nil, invalidProof("DPoP proof signature invalid")
	}
	var c dpopClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, invalidProof("DPoP proof claims: %v", err)
	}
	if c.IAT == nil {
		return nil, invalidProof(`DPoP proof "iat" missing`)
	}
	iatF, err := c.IAT.Float64()
	if err != nil || math.IsNaN(iatF) || iatF < 0 || iatF > 1e11 {
		return nil, invalidProof(`DPoP proof "iat" must be a number`)
	}
	now := v.clock()
	iat := time.Unix(0, int64(iatF*float64(time.Second)))
	if iat.Before(now.Add(-dpopMaxSkew)) {
		return nil, invalidProof(`DPoP proof too old ("iat" %s before server time)`, now.Sub(iat).Round(time.Second))
	}
	if iat.After(now.Add(dpopMaxSkew)) {
		return nil, invalidProof(`DPoP proof issued in the future ("iat" %s after server time)`, iat.Sub(now).Round(time.Second))
	}
	if c.JTI == "" {
		return nil, invalidProof(`DPoP proof "jti" missing`)
	}
	if c.HTM != r.Method {
		return nil, invalidProof(`DPoP "htm" mismatch: got %q, request method is %q`, c.HTM, r.Method)
	}
	if err := v.checkHTU(c.HTU, r); err != nil {
		return nil, err
	}
	if c.Nonce == nil || *c.Nonce == "" {
		who := "Authorization server"
		if resource {
			who = "Resource server"
		}
		return nil, &dpopError{code: "use_dpop_nonce", desc: who + " requires nonce in DPoP proof"}
	}
	if resource {
		if accessToken == "" {
			return nil, invalidProof("no access token to bind the DPoP proof to")
		}
		if c.ATH == nil {
			return nil, invalidProof(`DPoP proof "ath" missing`)
		}
		sum := sha256.Sum256([]byte(accessToken))
		if *c.ATH != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return nil, invalidProof(`DPoP "ath" mismatch`)
		}
	} else if c.ATH != nil {
		return nil, invalidProof(`DPoP "ath" claim not allowed at the authorization server`)
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, invalidProof("DPoP key thumbprint: %v", err)
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	if at, ok := v.issued[*c.Nonce]; !ok || now.Sub(at) > nonceWindow {
		return nil, &dpopError{code: "use_dpop_nonce", desc: `DPoP "nonce" mismatch (stale or unknown nonce)`}
	}
	for jti, at := range v.jtis {
		if now.Sub(at) > jtiRetention {
			delete(v.jtis, jti)
		}
	}
	if _, seen := v.jtis[c.JTI]; seen {
		return nil, invalidProof(`DPoP proof replayed ("jti" already used)`)
	}
	v.jtis[c.JTI] = now
	return &dpopProof{jkt: base64.RawURLEncoding.EncodeToString(tp), jti: c.JTI}, nil
}

// checkHTU requires htu to be exactly the request URL without query and
// fragment, reconstructed from the server's own origin.
func (v *dpopVerifier) checkHTU(htu string, r *http.Request) *dpopError {
	if htu == "" {
		return invalidProof(`DPoP "htu" missing`)
	}
	u, err := url.Parse(htu)
	if err != nil {
		return invalidProof(`DPoP "htu" is not a valid URL`)
	}
	if u.User != nil {
		return invalidProof(`DPoP "htu" must not contain credentials`)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(htu, "?#") {
		return invalidProof(`DPoP "htu" must not contain a query or fragment`)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	got := strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + path
	want := v.origin + r.URL.EscapedPath()
	if got != want {
		return invalidProof(`DPoP "htu" mismatch: got %q, want %q`, htu, want)
	}
	return nil
}
