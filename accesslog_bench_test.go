package gatehouse

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/problem"
)

func BenchmarkAccessLogLine(b *testing.B) {
	m := NewMetrics()
	rm := m.forRoute("orders")
	bl := NewBufferedLog(io.Discard, 100*time.Millisecond)
	defer bl.Close()
	h := accessLogStage(bl, nil, true, rm, time.Now)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	req := httptest.NewRequest("GET", "/orders/1?page=2", nil)
	st := &reqState{id: newRequestID(), start: time.Now()}
	req = req.WithContext(problem.WithRequestInfo(req.Context(), st))
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(&statusWriter{ResponseWriter: httptest.NewRecorder()}, req)
	}
}
