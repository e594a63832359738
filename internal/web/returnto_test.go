package web

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
)

func TestAppStateRoundTrip(t *testing.T) {
	st := appState{Form: draftProfile, Draft: strings.Repeat("d", 32)}
	raw := st.encode()
	if len(raw) > atoauth.MaxAppState/16 {
		t.Errorf("app state of %d bytes", len(raw))
	}
	if got := parseAppState(raw); got != st {
		t.Errorf("round trip: %+v", got)
	}
	for _, bad := range []string{"", "not json", `{"f":1}`, `[]`} {
		if got := parseAppState(bad); got != (appState{}) {
			t.Errorf("parseAppState(%q) = %+v", bad, got)
		}
	}
}

func TestNoticesRememberABoundedTime(t *testing.T) {
	now := time.Unix(1000, 0)
	n := NewNotices(nil)
	n.now = func() time.Time { return now }
	ev := n.Events()
	del := func(id string, c atoauth.DeleteCause) {
		ev.Deleted(t.Context(), atoauth.SessionDeleted{Session: atoauth.SessionInfo{ID: id}, Cause: c})
	}
	del("revoked-session", atoauth.DeleteRevoked)
	del("moved-session", atoauth.DeleteIdentityChanged)
	for id, want := range map[string]string{"revoked-session": "session-revoked", "moved-session": "session-moved", "other": ""} {
		if got := n.notice(id); got != want {
			t.Errorf("notice(%s) = %q, want %q", id, got, want)
		}
	}
	now = now.Add(endedSessionMemory - time.Second)
	if n.notice("revoked-session") == "" {
		t.Error("forgotten too soon")
	}
	now = now.Add(time.Second)
	if n.notice("revoked-session") != "" || n.size() != 0 {
		t.Errorf("remembered after %v: %d entries", endedSessionMemory, n.size())
	}

	// At most maxEndedSessions: the oldest go first.
	for i := range maxEndedSessions + 50 {
		now = now.Add(time.Millisecond)
		del("s"+strings.Repeat("0", 6)+strconv.Itoa(i), atoauth.DeleteSignedOut)
	}
	if n.size() != maxEndedSessions {
		t.Fatalf("%d entries, want %d", n.size(), maxEndedSessions)
	}
	if n.notice("s000000"+strconv.Itoa(0)) != "" || n.notice("s000000"+strconv.Itoa(maxEndedSessions+49)) != "session-signed-out" {
		t.Error("not the oldest forgotten first")
	}
	var nilNotices *Notices
	if nilNotices.notice("x") != "" {
		t.Error("a nil Notices knows a cause")
	}
}

func TestCauseNotices(t *testing.T) {
	for c := atoauth.DeleteSignedOut; c <= atoauth.DeleteRefreshFailed; c++ {
		code := causeNotice(c)
		if code == "session-ended" || !strings.HasPrefix(notices[code], "You were signed out because ") {
			t.Errorf("%v: notice %q: %q", c, code, notices[code])
		}
	}
	if causeNotice(0) != "session-ended" {
		t.Error("an unknown cause has a notice")
	}
}

func TestDraftCookies(t *testing.T) {
	small := &formDraft{Form: draftProfile, Session: draftTag("sid"), DisplayName: "Alice <b>&", Description: "line 1\nline 2"}
	chunks, digest, err := encodeDraft(small)
	if err != nil || len(chunks) != 1 || digest != draftDigest(chunks[0]) {
		t.Fatalf("small draft: %d chunks, %v", len(chunks), err)
	}
	if got := decodeDraft(chunks[0]); got == nil || !reflect.DeepEqual(got, small) {
		t.Fatalf("round trip: %+v", got)
	}
	// The largest draft fits in two cookies, each under browsers' 4 KB.
	big := &formDraft{Form: draftPost, Session: draftTag("sid"), Text: strings.Repeat("é", 1500)}
	big.Text += strings.Repeat("x", maxDraftBytes-len(`{"f":"post","s":"`+draftTag("sid")+`","t":""}`)-len(big.Text))
	chunks, _, err = encodeDraft(big)
	if err != nil || len(chunks) != 2 {
		t.Fatalf("a draft of %d bytes: %d chunks, %v", maxDraftBytes, len(chunks), err)
	}
	for _, c := range chunks {
		if len(c) > draftChunk || len("__Host-atoauth_draft2=")+len(c) > 4000 {
			t.Errorf("chunk of %d characters", len(c))
		}
	}
	if got := decodeDraft(strings.Join(chunks, "")); got == nil || got.Text != big.Text {
		t.Fatal("a two-cookie draft does not read back")
	}
	big.Text += "x"
	if _, _, err := encodeDraft(big); err != errDraftTooLarge {
		t.Fatalf("a draft one byte too large: %v", err)
	}
	for _, bad := range []string{"", "%%%", "bm90IGpzb24"} {
		if decodeDraft(bad) != nil {
			t.Errorf("decodeDraft(%q) read a draft", bad)
		}
	}
}
