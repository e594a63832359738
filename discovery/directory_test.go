package discovery_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/safehttp"
)

func TestDirectoryLookups(t *testing.T) {
	f := newFakeNet(t)
	f.addAccount(aliceDID, "alice.test", f.PDS.URL)
	dir := f.directory()

	ident, err := dir.LookupHandle(t.Context(), "Alice.Test")
	if err != nil {
		t.Fatal(err)
	}
	if ident.DID.String() != aliceDID || ident.Handle != "alice.test" || ident.PDSEndpoint() != f.PDS.URL {
		t.Fatalf("identity %+v", ident)
	}
	ident, err = dir.Lookup(t.Context(), syntax.AtIdentifier(aliceDID))
	if err != nil || ident.Handle != "alice.test" {
		t.Fatalf("Lookup(DID) = (%+v, %v)", ident, err)
	}
	// Cached: neither the PLC nor the handle resolver is asked again.
	plc, rh := f.hitCount("plc"), f.hitCount("resolveHandle")
	for range 3 {
		if _, err := dir.LookupHandle(t.Context(), "alice.test"); err != nil {
			t.Fatal(err)
		}
	}
	if f.hitCount("plc") != plc || f.hitCount("resolveHandle") != rh {
		t.Fatal("cached lookups reached the network")
	}
	// Purge forgets the DID.
	if err := dir.Purge(t.Context(), syntax.AtIdentifier(aliceDID)); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.LookupDID(t.Context(), syntax.DID(aliceDID)); err != nil {
		t.Fatal(err)
	}
	if f.hitCount("plc") != plc+1 {
		t.Fatal("purged DID not fetched again")
	}
}

func TestDirectoryBidirectionalVerification(t *testing.T) {
	f := newFakeNet(t)
	f.addAccount(aliceDID, "alice.test", f.PDS.URL)
	// mallory.test points at alice's DID, which does not claim it.
	f.set(func(f *fakeNet) { f.handles["mallory.test"] = aliceDID })
	// bob's document claims a handle that resolves elsewhere.
	f.addAccount(bobDID, "bob.test", f.PDS.URL)
	f.set(func(f *fakeNet) { f.handles["bob.test"] = aliceDID })
	// carol's document claims a handle that does not resolve at all.
	carolDID := plcDID("carol")
	f.addAccount(carolDID, "", f.PDS.URL)
	f.set(func(f *fakeNet) { f.docs[carolDID] = didDoc(carolDID, "carol.test", f.PDS.URL) })
	dir := f.directory()

	_, err := dir.LookupHandle(t.Context(), "mallory.test")
	if !errors.Is(err, discovery.ErrHandleMismatch) || !errors.Is(err, identity.ErrHandleMismatch) {
		t.Fatalf("LookupHandle(mallory.test): err = %v, want ErrHandleMismatch", err)
	}
	for _, did := range []string{bobDID, carolDID} {
		ident, err := dir.LookupDID(t.Context(), syntax.DID(did))
		if err != nil {
			t.Fatal(err)
		}
		if !ident.Handle.IsInvalidHandle() {
			t.Fatalf("LookupDID(%s).Handle = %q, want handle.invalid", did, ident.Handle)
		}
	}
	if _, err := dir.LookupHandle(t.Context(), "bob.test"); !errors.Is(err, discovery.ErrHandleMismatch) {
		t.Fatalf("LookupHandle(bob.test): err = %v, want ErrHandleMismatch", err)
	}
}

func TestDirectoryErrors(t *testing.T) {
	f := newFakeNet(t)
	wrongID := plcDID("wrongid")
	f.set(func(f *fakeNet) {
		f.docs[wrongID] = didDoc(aliceDID, "", f.PDS.URL)
		f.handles["wrongid.test"] = wrongID
	})
	dir := f.directory()
	for _, tc := range []struct {
		id   string
		want error
	}{
		{plcDID("nobody"), discovery.ErrDIDNotFound},
		{wrongID, discovery.ErrInvalidDIDDocument},
		{"wrongid.test", discovery.ErrInvalidDIDDocument},
		{"nobody.test", discovery.ErrHandleNotFound},
		{"alice.example", discovery.ErrInvalidIdentifier},
		{"did:key:z6Mkabc", discovery.ErrInvalidIdentifier},
	} {
		_, err := dir.Lookup(t.Context(), syntax.AtIdentifier(tc.id))
		var re *discovery.ResolveError
		if !errors.Is(err, tc.want) || !errors.As(err, &re) {
			t.Errorf("Lookup(%s): err = %v, want *ResolveError %v", tc.id, err, tc.want)
		}
	}
}

func TestDirectoryBodyLimits(t *testing.T) {
	f := newFakeNet(t)
	hugeDID, hugeHandleDID := plcDID("huge"), plcDID("hugehandle")
	f.set(func(f *fakeNet) {
		doc := didDoc(hugeDID, "", f.PDS.URL)
		doc["padding"] = strings.Repeat("x", 513<<10)
		f.docs[hugeDID] = doc
		f.handles["huge.test"] = hugeHandleDID + `","padding":"` + strings.Repeat("x", 11<<10)
	})
	dir := f.directory()
	_, err := dir.LookupDID(t.Context(), syntax.DID(hugeDID))
	if !errors.Is(err, discovery.ErrInvalidDIDDocument) || !errors.Is(err, safehttp.ErrTooLarge) {
		t.Fatalf("huge DID document: err = %v, want ErrInvalidDIDDocument wrapping ErrTooLarge", err)
	}
	_, err = dir.LookupHandle(t.Context(), "huge.test")
	if !errors.Is(err, safehttp.ErrTooLarge) {
		t.Fatalf("huge resolveHandle answer: err = %v, want ErrTooLarge", err)
	}
}

func TestDirectoryRefusesRedirects(t *testing.T) {
	f := newFakeNet(t)
	f.addAccount(aliceDID, "alice.test", f.PDS.URL)
	redirectingPLC := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, f.PLC.URL+r.URL.Path, http.StatusFound)
	}))
	defer redirectingPLC.Close()
	dir := discovery.NewDirectory(discovery.DirectoryOptions{PLCURL: redirectingPLC.URL, AllowInsecureDevelopment: true})
	_, err := dir.LookupDID(t.Context(), syntax.DID(aliceDID))
	if !errors.Is(err, discovery.ErrUnreachable) || !errors.Is(err, safehttp.ErrRedirect) {
		t.Fatalf("err = %v, want ErrUnreachable wrapping ErrRedirect", err)
	}
	if f.hitCount("plc") != 0 {
		t.Fatal("redirect was followed")
	}
}

func TestDirectoryInvalidHandleResolver(t *testing.T) {
	dir := discovery.NewDirectory(discovery.DirectoryOptions{HandleResolver: "http://localhost:2583"}) // http without the development switch
	_, err := dir.LookupHandle(t.Context(), "alice.test")
	if !errors.Is(err, discovery.ErrUnreachable) || !strings.Contains(err.Error(), "HandleResolver") {
		t.Fatalf("err = %v", err)
	}
}
