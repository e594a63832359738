// Package metrics exports what atoauth serve does in the Prometheus text
// format: sign-ins, refreshes by outcome, XRPC calls by method family and
// status, DPoP nonce challenges, refresh-lock waits and gateway requests.
//
// Every label takes a value from a short fixed list (outcomes, method
// families, status classes, route names): no DID, handle, session id,
// host or method name reaches a label, so the number of series stays
// bounded whatever people sign in with and whatever servers they use.
package metrics

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/discovery"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors of one process on their own registry.
// Create it with New; it is safe for concurrent use.
type Metrics struct {
	reg             *prometheus.Registry
	logins          *prometheus.CounterVec
	refreshes       *prometheus.CounterVec
	refreshSeconds  prometheus.Histogram
	lockWaitSeconds prometheus.Histogram
	nonces          *prometheus.CounterVec
	xrpcCalls       *prometheus.CounterVec
	gateway         *prometheus.CounterVec
}

// New returns the collectors, registered with the Go runtime and process
// collectors on a registry of their own (not the global one).
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atoauth_logins_total",
			Help: "Sign-in steps by stage (start: discovery and PAR; callback: code exchange and identity check) and outcome.",
		}, []string{"stage", "outcome"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atoauth_refreshes_total",
			Help: "Session refreshes by outcome (refreshed, already_refreshed, temporary_failure, session_ended).",
		}, []string{"outcome"}),
		refreshSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "atoauth_refresh_duration_seconds",
			Help:    "How long session refreshes took, waiting for the store's lock included.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		lockWaitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "atoauth_refresh_lock_wait_seconds",
			Help:    "How long refreshes waited to take the store's refresh lock of their session.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 15, 60},
		}),
		nonces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atoauth_dpop_nonce_challenges_total",
			Help: "Requests whose first attempt met a DPoP use_dpop_nonce challenge, by server kind (authorization_server, pds): each costs a round trip.",
		}, []string{"server"}),
		xrpcCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atoauth_xrpc_requests_total",
			Help: "HTTP requests to /xrpc/ methods of PDSs (each attempt, nonce retries included), by method family (com.atproto, app.bsky, chat.bsky, tools.ozone, other) and status class (2xx, 4xx, 5xx, error).",
		}, []string{"family", "status"}),
		gateway: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atoauth_gateway_requests_total",
			Help: "Requests to the gateway's routes (session, xrpc, auth_check, upstream), by route and status class.",
		}, []string{"route", "status"}),
	}
	m.reg.MustRegister(m.logins, m.refreshes, m.refreshSeconds, m.lockWaitSeconds, m.nonces, m.xrpcCalls, m.gateway,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Observer is the atoauth.Observer that feeds the sign-in, refresh,
// lock-wait and nonce collectors: set it as Config.Observer.
func (m *Metrics) Observer() *atoauth.Observer {
	return &atoauth.Observer{
		Login: func(stage atoauth.LoginStage, err error) {
			m.logins.WithLabelValues(string(stage), LoginOutcome(err)).Inc()
		},
		Refresh: func(outcome atoauth.RefreshOutcome, took time.Duration) {
			m.refreshes.WithLabelValues(string(outcome)).Inc()
			m.refreshSeconds.Observe(took.Seconds())
		},
		LockWait: func(waited time.Duration) { m.lockWaitSeconds.Observe(waited.Seconds()) },
		NonceChallenge: func(server atoauth.NonceServer) {
			m.nonces.WithLabelValues(string(server)).Inc()
		},
	}
}

// LoginOutcome classifies a sign-in step's error into a short fixed list:
// ok, denied (the person declined), invalid_state (no such pending login,
// another browser, too late), invalid_request (bad input or options),
// account_not_found, identity (issuer or account mismatch), server (the
// account's servers failed or misbehaved), other.
func LoginOutcome(err error) string {
	var ce *atoauth.CallbackError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ce) && ce.Code == "access_denied":
		return "denied"
	case errors.Is(err, atoauth.ErrInvalidState):
		return "invalid_state"
	case errors.Is(err, atoauth.ErrInvalidStartOptions), errors.Is(err, discovery.ErrInvalidIdentifier):
		return "invalid_request"
	case errors.Is(err, discovery.ErrAccountNotFound):
		return "account_not_found"
	case errors.Is(err, atoauth.ErrCallbackIssuer), errors.Is(err, atoauth.ErrIdentityMismatch):
		return "identity"
	case errors.Is(err, discovery.ErrServerProblem), errors.As(err, new(*atoauth.OAuthError)), errors.As(err, &ce):
		return "server"
	}
	return "other"
}

// XRPC wraps the base transport of the OAuth client (Config.HTTPClient's)
// to count requests to /xrpc/ methods by method family and status class.
// Other requests (metadata, token endpoints) pass through uncounted.
func (m *Metrics) XRPC(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		nsid, ok := strings.CutPrefix(r.URL.Path, "/xrpc/")
		if !ok {
			return base.RoundTrip(r)
		}
		resp, err := base.RoundTrip(r)
		status := "error"
		if err == nil {
			status = StatusClass(resp.StatusCode)
		}
		m.xrpcCalls.WithLabelValues(Family(nsid), status).Inc()
		return resp, err
	})
}

// Gateway counts the requests next serves under the route name (one of a
// fixed list the caller chooses) by status class.
func (m *Metrics) Gateway(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		m.gateway.WithLabelValues(route, StatusClass(sw.status)).Inc()
	})
}

// families are the NSID prefixes counted apart; any other is "other".
var families = []string{"com.atproto", "app.bsky", "chat.bsky", "tools.ozone"}

// Family is the method family of an NSID for a label: its first two
// segments when they are one of the known lexicon namespaces, else
// "other".
func Family(nsid string) string {
	for _, f := range families {
		if strings.HasPrefix(nsid, f+".") {
			return f
		}
	}
	return "other"
}

// StatusClass is "2xx", "3xx", "4xx" or "5xx" for an HTTP status, "other"
// outside 200–599.
func StatusClass(code int) string {
	if code < 200 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer
// (flushing a streamed body).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
