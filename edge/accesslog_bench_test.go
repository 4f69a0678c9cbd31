package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func BenchmarkAccessLogLine(b *testing.B) {
	bl := NewBufferedLog(io.Discard, 100*time.Millisecond)
	defer bl.Close()
	h := Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }),
		RequestID{}.Wrap, AccessLog{Out: bl, Enabled: true}.Wrap)
	req := httptest.NewRequest("GET", "/orders/1?page=2", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
