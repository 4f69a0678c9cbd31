package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkStage is one request through a stage with one per-IP policy
// that never runs out, as the load benchmark's ratelimit scenario has.
func BenchmarkStage(b *testing.B) {
	s := NewStage(StageOptions{Route: "r", Limiter: NewMemory(MemoryOptions{}), OnDecision: func(string, bool) {}, Rules: []Rule{
		{Policy: Policy{Name: "r/per-ip", Limit: 1 << 40, Window: time.Hour}, Key: []string{PartIP}},
	}})
	h := s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := request("192.0.2.1", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.Header())
		h.ServeHTTP(w, req)
	}
}
