// Package admin serves the admin listener: liveness (/healthz), readiness
// (/readyz), Prometheus metrics (/metrics) and the JSON admin API under
// /v1/ (API keys: /v1/keys; OAuth clients: /v1/clients; token revocation:
// /v1/tokens), which needs an API key with role
// gatehouse:admin. It is never mounted on the public listener (PRX-06) and
// binds to loopback by default (CFG-01). Every answer is no-store (HDR-02).
package admin

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/edge"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/revocation"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"github.com/gatehouse-dev/gatehouse/store"
)

// Options configure the admin handler.
type Options struct {
	// Ready reports whether the gateway has compiled its first config.
	Ready func() bool
	// Registry holds the metrics to expose.
	Registry *prometheus.Registry
	// Version is reported by /healthz.
	Version string
	// Keys, when set, serves the API key admin API under /v1/keys; it also
	// authenticates every /v1 call (an admin key is required).
	Keys *apikey.Manager
	// Decide, when set with Keys, serves the decision API POST /v1/decide.
	Decide func(policy.Input) policy.Decision
	// Revocations, when set with Keys, serves POST /v1/tokens/revoke and
	// GET /v1/tokens/revoked.
	Revocations *revocation.List
	// Clients, when set with Keys, serves /v1/clients (the built-in OAuth
	// server's clients).
	Clients store.OAuthClients
	// ForwardAuth, when set, is served at /v1/forward-auth (no admin key:
	// it authenticates the original request's own credentials, and runs
	// its own edge stages: request id, access log).
	ForwardAuth http.Handler
	// AuditFindings, when set with Keys, serves GET /v1/audit/findings: the
	// security audit of the config serving.
	AuditFindings func() []finding.Finding
	// AccessLog receives one JSON line per admin call (edge.AccessLog);
	// nil writes none.
	AccessLog io.Writer
	// Log receives panics and failed access-log writes; nil: nowhere.
	Log *slog.Logger
	// Now is the clock of the admin API; nil means time.Now.
	Now func() time.Time
}

// Handler returns the admin HTTP handler. Every response carries the
// HDR-01 headers; unknown paths get a 404 problem.
func Handler(o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]string{"status": "ok", "version": o.Version})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if o.Ready == nil || !o.Ready() {
			problem.Write(w, r, problem.New(http.StatusServiceUnavailable, problem.TypeServiceUnavailable, "the gateway has not compiled its config yet"))
			return
		}
		reply(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
	if o.Keys != nil {
		admin := adminAuth(o.Keys)
		(&keysAPI{m: o.Keys, now: o.Now}).register(mux, admin)
		if o.Decide != nil {
			mux.HandleFunc("POST /v1/decide", admin(decideHandler(o.Decide)))
		}
		if o.Clients != nil {
			c := &clientsAPI{st: o.Clients, now: o.Now}
			mux.HandleFunc("POST /v1/clients", admin(c.create))
			mux.HandleFunc("GET /v1/clients", admin(c.list))
			mux.HandleFunc("GET /v1/clients/{id}", admin(c.get))
			mux.HandleFunc("POST /v1/clients/{id}/rotate-secret", admin(c.rotate))
			mux.HandleFunc("POST /v1/clients/{id}/disable", admin(c.setDisabled(true)))
			mux.HandleFunc("POST /v1/clients/{id}/enable", admin(c.setDisabled(false)))
			mux.HandleFunc("DELETE /v1/clients/{id}", admin(c.delete))
		}
		if o.AuditFindings != nil {
			mux.HandleFunc("GET /v1/audit/findings", admin(auditFindings(o.AuditFindings)))
		}
		if o.Revocations != nil {
			t := &tokensAPI{l: o.Revocations, now: o.Now}
			mux.HandleFunc("POST /v1/tokens/revoke", admin(t.revoke))
			mux.HandleFunc("GET /v1/tokens/revoked", admin(t.list))
		}
	}
	// The admin API runs the edge stages the public listener runs (its
	// own answers are problems with a request id, one access-log line
	// each); forward auth runs them inside its own chain.
	api := edge.Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			problem.Write(w, r, problem.New(http.StatusNotFound, problem.TypeNotFound, "no such admin endpoint"))
			return
		}
		mux.ServeHTTP(w, r) // sets the path values ({id}) that Handler does not
	}),
		edge.Recover{Log: o.Log}.Wrap,
		edge.RequestID{Now: o.Now}.Wrap,
		edge.AccessLog{Out: o.AccessLog, Enabled: o.AccessLog != nil, Log: o.Log, Now: o.Now}.Wrap,
	)
	if fa := o.ForwardAuth; fa != nil {
		admin := api
		api = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p := r.URL.Path; p == "/v1/forward-auth" || strings.HasPrefix(p, "/v1/forward-auth/") {
				fa.ServeHTTP(w, r)
				return
			}
			admin.ServeHTTP(w, r)
		})
	}
	// HDR-01 from the shared stage (HSTS on TLS), then the admin's own
	// stricter CSP and no-store (HDR-02).
	headers := func(tls bool) http.Handler {
		return edge.SecurityHeaders{HSTS: tls}.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
			h.Set("Cache-Control", "no-store")
			api.ServeHTTP(w, r)
		}))
	}
	overTLS, plain := headers(true), headers(false)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			overTLS.ServeHTTP(w, r)
			return
		}
		plain.ServeHTTP(w, r)
	})
}

// auditFindings answers GET /v1/audit/findings: the counts by severity and
// the findings, worst first; ?min_severity=high keeps the worse ones.
func auditFindings(list func() []finding.Finding) adminHandler {
	return func(w http.ResponseWriter, r *http.Request, _ string) {
		min := finding.Info
		if v := r.URL.Query().Get("min_severity"); v != "" {
			s, err := finding.ParseSeverity(v)
			if err != nil {
				problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, err.Error()))
				return
			}
			min = s
		}
		fs := []finding.Finding{}
		for _, f := range list() {
			if f.Severity >= min {
				fs = append(fs, f)
			}
		}
		finding.Sort(fs)
		reply(w, http.StatusOK, map[string]any{"summary": finding.CountsByName(fs), "findings": fs})
	}
}
