package dpop

import (
	"net/url"
	"testing"
)

// generalHTU is HTU without the simpleHTU shortcut.
func generalHTU(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	return htuOf(u)
}

// checkSimpleHTU fails if simpleHTU accepts rawURL but disagrees with the
// general path, and returns whether it accepted it.
func checkSimpleHTU(t *testing.T, rawURL string) bool {
	t.Helper()
	got, ok := simpleHTU(rawURL)
	if !ok {
		return false
	}
	want, err := generalHTU(rawURL)
	if err != nil || got != want {
		t.Fatalf("simpleHTU(%q) = %q; general path gives %q, %v", rawURL, got, want, err)
	}
	return true
}

func TestSimpleHTU(t *testing.T) {
	for _, raw := range []string{
		"https://pds.example.com/xrpc/com.atproto.repo.createRecord?x=1",
		"https://pds.example.com/xrpc/com.atproto.repo.createRecord",
		"http://127.0.0.1/",
		"https://h/", "https://h/?", "https://h/??a", "https://h//a/../b/./c", "https://-.-/~_.-AZaz09",
		"https://h/p?a b&c=%zz&d=é&e=?/:@[]",
	} {
		if !checkSimpleHTU(t, raw) {
			t.Errorf("simpleHTU(%q) declined", raw)
		}
	}
	for _, raw := range []string{
		"", "https://", "https:///p", "https://h", "https://h?q", "https://h#f", "https://h/p#f", "https://h/p?q#f",
		"HTTPS://h/", "https://H/", "https://h:443/", "https://h:8080/", "https://u@h/", "https://[::1]/",
		"https://%68/", "https://h/%41", "https://h/a b", "https://h/a:b", "https://h/a@b", "https://h/é",
		"https://h/p?\x00", "https://h/p?\x7f", "https://h/p?\n", "ftp://h/", "https:/h/", "https:h/", "//h/", "https://h\\/",
	} {
		if checkSimpleHTU(t, raw) {
			t.Errorf("simpleHTU(%q) accepted", raw)
		}
	}
}

func FuzzSimpleHTU(f *testing.F) {
	for _, s := range []string{
		"https://pds.example.com/xrpc/com.atproto.repo.createRecord?x=1", "http://a/b?c", "https://h//?",
		"https://h/p?q#f", "https://H/", "https://h:1/", "https://h/%41",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rawURL string) {
		checkSimpleHTU(t, rawURL)
	})
}
