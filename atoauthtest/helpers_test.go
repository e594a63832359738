package atoauthtest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoauth/atoauth/atoauthtest"
)

func TestBufferIsSafeForConcurrentUse(t *testing.T) {
	var b atoauthtest.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { fmt.Fprintf(&b, "line %d\n", i) })
	}
	wg.Wait()
	if b.Len() != 8*len("line 0\n") || strings.Count(b.String(), "\n") != 8 {
		t.Fatalf("buffer holds %q", b.String())
	}
}

func TestClockMovesOnlyWhenAdvanced(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := atoauthtest.NewClock(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", c.Now(), start)
	}
	c.Advance(time.Hour)
	if got := c.Now(); !got.Equal(start.Add(time.Hour)) {
		t.Fatalf("after Advance: %v", got)
	}
}

func TestNewEnvGrantsWhatThePersonApproves(t *testing.T) {
	e := atoauthtest.NewEnv(t, atoauthtest.Options{}, "atproto transition:generic", atoauthtest.GrantScope("atproto"))
	if e.Session.DID() != e.Account || e.Net.Handle(e.Account) != "alice.test" || e.Session.Info().Scope != "atproto" {
		t.Fatalf("session %+v of %s", e.Session.Info(), e.Account)
	}
	if list, err := e.Client.Sessions(t.Context(), e.Account); err != nil || len(list) != 1 {
		t.Fatalf("the client's sessions: %v, %v", list, err)
	}
}
