// Package admin serves the admin listener: liveness (/healthz), readiness
// (/readyz), Prometheus metrics (/metrics) and the JSON admin API under
// /v1/ (API keys: /v1/keys; OAuth clients: /v1/clients; token revocation:
// /v1/tokens), which needs an API key with role
// gatehouse:admin. It is never mounted on the public listener (PRX-06) and
// binds to loopback by default (CFG-01). Every answer is no-store (HDR-02).
package admin

import (
	"encoding/json"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/revocation"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	// it authenticates the original request's own credentials).
	ForwardAuth http.Handler
}

// Handler returns the admin HTTP handler. Every response carries the
// HDR-01 headers; unknown paths get a 404 problem.
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": o.Version})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if o.Ready == nil || !o.Ready() {
			problem.Write(w, r, problem.New(http.StatusServiceUnavailable, problem.TypeServiceUnavailable, "the gateway has not compiled its config yet"))
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
	if o.Keys != nil {
		api := &keysAPI{m: o.Keys}
		api.register(mux)
		if o.Decide != nil {
			mux.HandleFunc("POST /v1/decide", api.admin(decideHandler(o.Decide)))
		}
		if o.Clients != nil {
			c := &clientsAPI{st: o.Clients}
			mux.HandleFunc("POST /v1/clients", api.admin(c.create))
			mux.HandleFunc("GET /v1/clients", api.admin(c.list))
			mux.HandleFunc("GET /v1/clients/{id}", api.admin(c.get))
			mux.HandleFunc("POST /v1/clients/{id}/rotate-secret", api.admin(c.rotate))
			mux.HandleFunc("POST /v1/clients/{id}/disable", api.admin(c.setDisabled(true)))
			mux.HandleFunc("POST /v1/clients/{id}/enable", api.admin(c.setDisabled(false)))
			mux.HandleFunc("DELETE /v1/clients/{id}", api.admin(c.delete))
		}
		if o.Revocations != nil {
			t := &tokensAPI{l: o.Revocations}
			mux.HandleFunc("POST /v1/tokens/revoke", api.admin(t.revoke))
			mux.HandleFunc("GET /v1/tokens/revoked", api.admin(t.list))
		}
	}
	if o.ForwardAuth != nil {
		mux.Handle("/v1/forward-auth", o.ForwardAuth)
		mux.Handle("/v1/forward-auth/", o.ForwardAuth)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			problem.Write(w, r, problem.New(http.StatusNotFound, problem.TypeNotFound, "no such admin endpoint"))
			return
		}
		mux.ServeHTTP(w, r) // sets the path values ({id}) that Handler does not
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
