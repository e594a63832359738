package sqlstore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/jwk"
	"github.com/atoauth/atoauth/storecrypt"
)

func TestAppStateSealedAndBound(t *testing.T) {
	c := codec(t)
	k, err := jwk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.AuthRequestRow(&atoauth.AuthRequest{State: "a", PKCEVerifier: "v", DPoPKey: k, AppState: "/return/a"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.AuthRequestRow(&atoauth.AuthRequest{State: "b", PKCEVerifier: "v", DPoPKey: k, AppState: "/return/b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.AppState) == 0 || bytes.Contains(a.AppState, []byte("/return/a")) {
		t.Fatalf("app state not sealed: %q", a.AppState)
	}
	if got, err := c.AuthRequest(a); err != nil || got.AppState != "/return/a" {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	// Another login's app state does not open in this one's row.
	swapped := *a
	swapped.AppState = b.AppState
	if _, err := c.AuthRequest(&swapped); !errors.Is(err, storecrypt.ErrOpen) {
		t.Errorf("another row's app state: err = %v", err)
	}
	// No app state, or a row from before the column: empty, also sealed.
	none, err := c.AuthRequestRow(&atoauth.AuthRequest{State: "c", PKCEVerifier: "v", DPoPKey: k})
	if err != nil {
		t.Fatal(err)
	}
	if len(none.AppState) != 0 || none.KeyID == "" {
		t.Fatalf("row without app state: key %q, app state %q", none.KeyID, none.AppState)
	}
	if got, err := c.AuthRequest(none); err != nil || got.AppState != "" {
		t.Fatalf("row without app state: %q, %v", got.AppState, err)
	}
	// Re-sealing carries it over.
	plain := &Codec{}
	p, err := plain.AuthRequestRow(&atoauth.AuthRequest{State: "d", PKCEVerifier: "v", DPoPKey: k, AppState: "/return/d"})
	if err != nil {
		t.Fatal(err)
	}
	if string(p.AppState) != "/return/d" {
		t.Fatalf("without keys the app state is kept as is: %q", p.AppState)
	}
	r, changed, err := c.ResealAuthRequest(p)
	if err != nil || !changed || bytes.Contains(r.AppState, []byte("/return/d")) {
		t.Fatalf("reseal: %v %v %q", changed, err, r.AppState)
	}
	if got, err := c.AuthRequest(r); err != nil || got.AppState != "/return/d" {
		t.Fatalf("after reseal: %q, %v", got.AppState, err)
	}
}
