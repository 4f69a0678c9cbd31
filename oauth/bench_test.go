package oauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkTokenEndpoint: client_credentials requests through the token
// endpoint (client lookup in SQLite, secret check, Ed25519 signature), in
// parallel; requests/s is 1e9 / (ns/op).
func BenchmarkTokenEndpoint(b *testing.B) {
	e := setup(&testing.T{})
	b.Cleanup(func() { e.srv.Close(); e.st.Close() })
	h := e.s.Handler()
	body := "grant_type=client_credentials&scope=orders:read"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(e.id, e.sec)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}
