package serve

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	env := map[string]string{"ATOAUTH_PLC_URL": "http://localhost:2582", "ATOAUTH_INSECURE_DEV": "1"}
	o, err := ParseFlags([]string{"--addr", "127.0.0.1:9999"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Addr != "127.0.0.1:9999" || o.PLCURL != "http://localhost:2582" || !o.InsecureDev || o.Scope != "atproto transition:generic" {
		t.Errorf("options = %+v", o)
	}
	if _, err := ParseFlags([]string{"--bogus"}, func(string) string { return "" }, io.Discard); !errors.Is(err, ErrUsage) {
		t.Errorf("bad flag: %v", err)
	}
	var help bytes.Buffer
	if _, err := ParseFlags([]string{"--help"}, func(string) string { return "" }, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "Example") {
		t.Errorf("--help: %v %q", err, help.String())
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, &Options{Addr: "127.0.0.1:0", Scope: "atproto"}, &out, io.Discard) }()
	re := regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		base = re.FindString(out.String())
	}
	if base == "" {
		t.Fatal("server did not announce its address")
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Sign in") {
		t.Fatalf("home: HTTP %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no graceful shutdown")
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }
