// Package bench holds the benchmarks: this file compares the pipeline
// in-process with the floor (a bare httputil.ReverseProxy with a buffer pool
// and tuned transport) over a real loopback upstream; loadbench/ runs the
// same comparison as separate pinned processes under wrk.
package bench

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func upstream(b *testing.B) *httptest.Server {
	body := []byte(`{"id":"1","tenant":"acme","owner":"alice","item":"anvil","quantity":1,"status":"open"}`)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(s.Close)
	return s
}

type bufPool struct{ p sync.Pool }

func (bp *bufPool) Get() []byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}
func (bp *bufPool) Put(b []byte) { bp.p.Put(&b) }

func floor(up string) http.Handler {
	u, _ := url.Parse(up)
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() },
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 512, DisableCompression: true,
		},
		BufferPool: &bufPool{},
	}
}

func gateway(b *testing.B, up string, accessLog bool, extra ...string) http.Handler {
	cfg, err := gatehouse.Parse("bench.yaml", []byte(fmt.Sprintf(`
log: {access: %t}
routes:
  - name: orders
    match: {methods: [GET], path: "/orders/{id}"}
    upstream: {url: %q}
%s`, accessLog, up, strings.Join(extra, ""))))
	if err != nil {
		b.Fatal(err)
	}
	gw, err := gatehouse.New(cfg, gatehouse.Deps{Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), AccessLog: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	return gw
}

func run(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "/orders/1", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		for pb.Next() {
			w := &discardWriter{h: http.Header{}}
			h.ServeHTTP(w, req)
		}
	})
}

// BenchmarkProxy: the whole request path, floor and gateway side by side.
// Compare with: go test -bench Proxy -count 6 ./bench | benchstat
func BenchmarkProxy(b *testing.B) {
	up := upstream(b)
	b.Run("floor", func(b *testing.B) { run(b, floor(up.URL)) })
	b.Run("gatehouse", func(b *testing.B) { run(b, gateway(b, up.URL, true)) })
	b.Run("gatehouse-nolog", func(b *testing.B) { run(b, gateway(b, up.URL, false)) })
	b.Run("gatehouse-ratelimit", func(b *testing.B) {
		run(b, gateway(b, up.URL, true, "    rate_limit: {policies: [{name: per-ip, limit: 100000, window: 1s}]}\n"))
	})
}

// BenchmarkPipelineOnly: the gateway's own cost, with an unreachable route
// answered by the gateway itself (no upstream): match, headers, log, metrics.
func BenchmarkPipelineOnly(b *testing.B) {
	h := gateway(b, "http://127.0.0.1:9", true)
	b.ReportAllocs()
	req := httptest.NewRequest(http.MethodGet, "/nothing/here", nil)
	for b.Loop() {
		h.ServeHTTP(&discardWriter{h: http.Header{}}, req)
	}
}

func BenchmarkNormalizePath(b *testing.B) {
	for _, p := range []string{"/orders/123", "/api//orders/./1/../2"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _, _ = gatehouse.NormalizePath(p)
			}
		})
	}
}
