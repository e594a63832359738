package atoauthtest

import (
	"net/url"
	"regexp"
)

// PushedRequest is a pushed authorization request (RFC 9126) that the
// authorization server accepted: the parameters it received, client
// authentication (client_assertion, client_assertion_type) left out, and
// the request_uri it answered with. A test reads them with
// [Network.PushedRequests] to check what a client sent: login_hint,
// prompt, display, ui_locales, scope, and that nothing else leaked in.
type PushedRequest struct {
	RequestURI string
	Params     url.Values
}

// pushedLog keeps every accepted pushed authorization request, oldest
// first. The Network's mu guards it.
type pushedLog struct{ list []PushedRequest }

func (l *pushedLog) addLocked(requestURI string, form url.Values) {
	p := PushedRequest{RequestURI: requestURI, Params: url.Values{}}
	for k, v := range form {
		if k == "client_assertion" || k == "client_assertion_type" {
			continue
		}
		p.Params[k] = append([]string(nil), v...)
	}
	l.list = append(l.list, p)
}

// PushedRequests returns every pushed authorization request the
// authorization server has accepted, oldest first (copies: changing them
// changes nothing). A refused request (see the log) is not among them.
func (n *Network) PushedRequests() []PushedRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]PushedRequest, len(n.pushed.list))
	for i, p := range n.pushed.list {
		out[i] = PushedRequest{RequestURI: p.RequestURI, Params: url.Values{}}
		for k, v := range p.Params {
			out[i].Params[k] = append([]string(nil), v...)
		}
	}
	return out
}

// LastPushedRequest returns the latest pushed authorization request the
// authorization server accepted, and false when there is none.
func (n *Network) LastPushedRequest() (PushedRequest, bool) {
	all := n.PushedRequests()
	if len(all) == 0 {
		return PushedRequest{}, false
	}
	return all[len(all)-1], true
}

// uiLocalesPattern is the reference server's ui_locales rule
// (@atproto/oauth-types): languages with an optional region, single
// spaces between.
var uiLocalesPattern = regexp.MustCompile(`^[a-z]{2,3}(-[A-Z]{2})?( [a-z]{2,3}(-[A-Z]{2})?)*$`)
