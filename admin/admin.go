// Package admin serves the admin listener: liveness (/healthz), readiness
// (/readyz) and Prometheus metrics (/metrics). It is never mounted on the
// public listener (PRX-06) and binds to loopback by default (CFG-01).
// Later capabilities add their JSON APIs under /v1/.
package admin

import (
	"encoding/json"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/problem"
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		hd, pattern := mux.Handler(r)
		if pattern == "" {
			problem.Write(w, r, problem.New(http.StatusNotFound, problem.TypeNotFound, "no such admin endpoint"))
			return
		}
		hd.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
