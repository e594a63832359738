package discovery_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/discovery"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// A handle's DNS TXT records decide its DID (atproto handle spec, "DNS
// TXT Method"): other values are ignored, one DID may appear several
// times, and several different DIDs make resolution fail rather than take
// the first.
func TestHandleTXTRecords(t *testing.T) {
	f := newFakeNet(t)
	const handle = "alice.atoauth-test.dev"
	f.addAccount(aliceDID, handle, f.PDS.URL)
	other := plcDID("mallory")
	f.addAccount(other, "mallory.atoauth-test.dev", f.PDS.URL)
	for _, tc := range []struct {
		name    string
		records []string
		want    string // DID, or "" for an error
	}{
		{"one", []string{"did=" + aliceDID}, aliceDID},
		{"with other values", []string{"v=spf1 -all", "did=" + aliceDID, "hello"}, aliceDID},
		{"the same twice", []string{"did=" + aliceDID, "did=" + aliceDID}, aliceDID},
		{"two different", []string{"did=" + aliceDID, "did=" + other}, ""},
		{"two different, the other first", []string{"did=" + other, "did=" + aliceDID}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			dir := discovery.NewDirectory(discovery.DirectoryOptions{
				PLCURL: f.PLC.URL, AllowInsecureDevelopment: true,
				LookupTXT: func(_ context.Context, name string) ([]string, error) {
					asked = append(asked, name)
					return tc.records, nil
				},
			})
			ident, err := dir.LookupHandle(context.Background(), syntax.Handle(handle))
			if len(asked) != 1 || asked[0] != "_atproto."+handle {
				t.Fatalf("TXT lookups: %v", asked)
			}
			if tc.want == "" {
				if !errors.Is(err, discovery.ErrHandleNotFound) || !strings.Contains(err.Error(), "several DIDs") {
					t.Fatalf("err = %v, want ErrHandleNotFound naming several DIDs", err)
				}
				return
			}
			if err != nil || ident.DID.String() != tc.want {
				t.Fatalf("LookupHandle = %v, %v; want %s", ident, err, tc.want)
			}
		})
	}
}
