package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/jwk"
	"github.com/atoauth/atoauth/storecrypt"
)

func codec(t *testing.T) *Codec {
	k, err := storecrypt.NewKey("k1", bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := storecrypt.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	return &Codec{Ring: ring}
}

func sessionData(t *testing.T, id, at string) *atoauth.SessionData {
	k, err := jwk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return &atoauth.SessionData{ID: id, DID: "did:plc:x", AccessToken: at, RefreshToken: "rt-" + id, DPoPKey: k.WithKeyID("dpop")}
}

func TestSealedValuesAreBoundToTheirPlace(t *testing.T) {
	c := codec(t)
	a, err := c.SessionRow(sessionData(t, "a", "at-a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.SessionRow(sessionData(t, "b", "at-b"))
	if err != nil {
		t.Fatal(err)
	}
	if a.KeyID != "k1" || bytes.Contains(a.AccessToken, []byte("at-a")) {
		t.Fatalf("row not sealed: %+v", a)
	}
	got, err := c.Session(a)
	if err != nil || got.AccessToken != "at-a" || got.RefreshToken != "rt-a" || got.DPoPKey.KeyID() != "dpop" {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	// b's access token copied into a's row, or a's refresh token into a's
	// access token column: neither opens.
	swapped := *a
	swapped.AccessToken = b.AccessToken
	if _, err := c.Session(&swapped); !errors.Is(err, storecrypt.ErrOpen) {
		t.Errorf("another row's value: err = %v", err)
	}
	swapped = *a
	swapped.AccessToken = a.RefreshToken
	if _, err := c.Session(&swapped); !errors.Is(err, storecrypt.ErrOpen) {
		t.Errorf("another column's value: err = %v", err)
	}
	// A pending login's DPoP key is not a session's.
	r, err := c.AuthRequestRow(&atoauth.AuthRequest{State: "a", PKCEVerifier: "v", DPoPKey: got.DPoPKey})
	if err != nil {
		t.Fatal(err)
	}
	swapped = *a
	swapped.DPoPKey = r.DPoPKey
	if _, err := c.Session(&swapped); !errors.Is(err, storecrypt.ErrOpen) {
		t.Errorf("another table's value: err = %v", err)
	}
}

func TestResealMovesToThePrimaryKey(t *testing.T) {
	plain := &Codec{Ring: nil}
	old, err := plain.SessionRow(sessionData(t, "a", "at-a"))
	if err != nil {
		t.Fatal(err)
	}
	c := codec(t)
	nr, changed, err := c.Reseal(old)
	if err != nil || !changed || nr.KeyID != "k1" {
		t.Fatalf("Reseal = %+v, %v, %v", nr, changed, err)
	}
	if _, changed, _ := c.Reseal(nr); changed {
		t.Error("a row under the primary key was resealed")
	}
	if got, err := c.Session(nr); err != nil || got.AccessToken != "at-a" {
		t.Errorf("resealed row: %v, %v", got, err)
	}
}

func TestWaitLock(t *testing.T) {
	// In a bubble: the release, the polls and the deadline run on the
	// bubble's fake clock.
	synctest.Test(t, func(t *testing.T) {
		var w Waker
		var tries atomic.Int32
		// Woken at once by a release in this process, not at the next
		// poll.
		const release = 100 * time.Millisecond
		go func() {
			time.Sleep(release)
			tries.Store(100)
			w.Wake()
		}()
		start := time.Now()
		err := WaitLock(context.Background(), &w, func(context.Context) (bool, error) {
			return tries.Add(1) > 100, nil
		})
		if d := time.Since(start); err != nil || d != release {
			t.Fatalf("WaitLock = %v after %v, want nil after %v", err, d, release)
		}
		// The context ends the wait, with the context's error even when the
		// attempt itself fails in the driver's words.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err = WaitLock(ctx, &w, func(ctx context.Context) (bool, error) {
			if ctx.Err() != nil {
				return false, errors.New("interrupted")
			}
			return false, nil
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
	})
}

func TestSessionKeyHidesTheID(t *testing.T) {
	c := codec(t)
	r, err := c.SessionRow(sessionData(t, "the-session-id", "at"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Key != SessionKey("the-session-id") || len(r.Key) != 64 || bytes.Contains(r.ID, []byte("the-session-id")) {
		t.Fatalf("key %q, sealed id %x", r.Key, r.ID)
	}
	// A row under another session's key does not open.
	moved := *r
	moved.Key = SessionKey("other")
	if _, err := c.Session(&moved); err == nil {
		t.Error("a row moved under another key opened")
	}
	// Even in the clear, an ID that does not match its key is refused.
	plain := &Codec{}
	pr, _ := plain.SessionRow(sessionData(t, "a", "at"))
	pr.ID = []byte("b")
	if _, err := plain.Session(pr); err == nil {
		t.Error("mismatched ID and key accepted")
	}
}

// The client_id is a public URL: it is kept in the clear, round-trips,
// and survives a re-seal.
func TestClientIDInTheClear(t *testing.T) {
	const cid = "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=atproto"
	d := sessionData(t, "a", "at-a")
	d.ClientID = cid
	old, err := (&Codec{}).SessionRow(d)
	if err != nil {
		t.Fatal(err)
	}
	c := codec(t)
	r, changed, err := c.Reseal(old)
	if err != nil || !changed {
		t.Fatalf("Reseal: %v, %v", changed, err)
	}
	if r.ClientID != cid {
		t.Errorf("row ClientID = %q, want %q in the clear", r.ClientID, cid)
	}
	got, err := c.Session(r)
	if err != nil || got.ClientID != cid {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	d.ClientID = ""
	r, err = c.SessionRow(d)
	if err != nil {
		t.Fatal(err)
	}
	if r.ClientID != "" {
		t.Errorf("unknown ClientID: row has %q", r.ClientID)
	}
}
