package admin

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestAdminEndpoints(t *testing.T) {
	var ready atomic.Bool
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"})
	reg.MustRegister(c)
	h := Handler(Options{Ready: ready.Load, Registry: reg, Version: "v1"})
	call := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}
	if rec := call("GET", "/readyz"); rec.Code != 503 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("readyz before ready: %d", rec.Code)
	}
	ready.Store(true)
	if rec := call("GET", "/readyz"); rec.Code != 200 {
		t.Errorf("readyz: %d", rec.Code)
	}
	if rec := call("GET", "/healthz"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "v1") {
		t.Errorf("healthz: %d %s", rec.Code, rec.Body)
	}
	if rec := call("GET", "/metrics"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "x_total 0") {
		t.Errorf("metrics: %d", rec.Code)
	}
	rec := call("GET", "/debug/pprof/")
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown path: %d", rec.Code)
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("admin headers: %v", rec.Header())
	}
	if rec := call("POST", "/metrics"); rec.Code != 404 && rec.Code != 405 {
		t.Errorf("POST /metrics: %d", rec.Code)
	}
}

// The admin listener runs the shared edge stages: every call gets a
// request id, its problems carry it, and it has one access-log line.
func TestAdminEdge(t *testing.T) {
	var log bytes.Buffer
	h := Handler(Options{Registry: prometheus.NewRegistry(), AccessLog: &log})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/nope?secret=1", nil))
	id := rec.Header().Get("X-Request-Id")
	if rec.Code != 404 || id == "" || !strings.Contains(rec.Body.String(), `"request_id":"`+id+`"`) {
		t.Fatalf("%d %q %s", rec.Code, id, rec.Body)
	}
	var line struct {
		RequestID string   `json:"request_id"`
		Status    int      `json:"status"`
		Problem   string   `json:"problem"`
		QueryKeys []string `json:"query_keys"`
	}
	if err := json.Unmarshal(log.Bytes(), &line); err != nil || line.RequestID != id || line.Status != 404 || line.Problem == "" || strings.Contains(log.String(), "secret=1") {
		t.Errorf("access-log line %s (%v)", log.String(), err)
	}
}
