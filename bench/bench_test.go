// Package bench holds the benchmarks: this file compares the pipeline
// in-process with the floor (a bare httputil.ReverseProxy with a buffer pool
// and tuned transport) over a real loopback upstream; loadbench/ runs the
// same comparison as separate pinned processes under wrk.
package bench

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
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
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/edge"
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
				_, _, _ = edge.NormalizePath(p)
			}
		})
	}
}

// order1K is a 1 KiB order that the demo's OpenAPI document accepts.
func order1K() string {
	var b strings.Builder
	b.WriteString(`{"tenant":"acme","owner":"alice","item":"workshop restock","quantity":8,"lines":[`)
	for i := range 8 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"ANV%d00-XL","quantity":%d,"unit_price":129.95,"currency":"CHF"}`, i, i+1)
	}
	b.WriteString(`],"shipping_address":{"name":"Alice Example","street":"Bahnhofstrasse 1","city":"Zurich","postal_code":"8001","country":"CH"},"note":"`)
	for b.Len() < 1022 {
		b.WriteByte('n')
	}
	b.WriteString(`"}`)
	return b.String()
}

// BenchmarkValidate: a 1 KiB JSON POST through the floor, the gateway
// without validation, with request validation against the demo's OpenAPI
// document, and with response validation as well.
func BenchmarkValidate(b *testing.B) {
	created := []byte(`{"id":"4","tenant":"acme","owner":"alice","item":"workshop restock","quantity":8,"status":"open","created_at":"2026-12-01T10:00:00Z"}`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(created)
	}))
	b.Cleanup(up.Close)
	body := order1K()
	route := func(validate string) http.Handler {
		cfg, err := gatehouse.Parse("bench.yaml", []byte(fmt.Sprintf(`
routes:
  - name: orders
    match: {methods: [POST], path: /orders}
    upstream: {url: %q}
%s`, up.URL, validate)))
		if err != nil {
			b.Fatal(err)
		}
		gw, err := gatehouse.New(cfg, gatehouse.Deps{Log: slog.New(slog.DiscardHandler), AccessLog: io.Discard})
		if err != nil {
			b.Fatal(err)
		}
		return gw
	}
	post := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.RemoteAddr = "127.0.0.1:40000"
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusCreated {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
	const spec = "    validate: {openapi: ../internal/demo/openapi.yaml, strict: true, reject_unknown_fields: true%s}\n"
	b.Run("floor", func(b *testing.B) { post(b, floor(up.URL)) })
	b.Run("gatehouse", func(b *testing.B) { post(b, route("")) })
	b.Run("gatehouse-validate", func(b *testing.B) { post(b, route(fmt.Sprintf(spec, ""))) })
	b.Run("gatehouse-validate-responses", func(b *testing.B) { post(b, route(fmt.Sprintf(spec, ", responses: enforce"))) })
}

// BenchmarkJWT: a GET through a route with auth.jwt, with one token (every
// request a cache hit) and with 10 000 distinct tokens (each verified once
// with EdDSA, then cached), beside the floor and the gateway without auth.
func BenchmarkJWT(b *testing.B) {
	up := upstream(b)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "k1", Algorithm: "EdDSA", Use: "sig"}}})
	}))
	b.Cleanup(idp.Close)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	if err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, 10000)
	for i := range tokens {
		tokens[i], err = josejwt.Signed(signer).Claims(map[string]any{
			"iss": idp.URL + "/", "sub": fmt.Sprintf("user-%d", i), "aud": "orders-api", "exp": time.Now().Add(time.Hour).Unix(),
			"jti": fmt.Sprintf("t-%d", i), "scope": "orders:read", "tenant": "acme",
		}).Serialize()
		if err != nil {
			b.Fatal(err)
		}
	}
	jwtRoute := func() http.Handler {
		return gateway(b, up.URL, true, "    auth: {jwt: {audience: orders-api, scopes: [orders:read]}}\njwt: {issuers: [{issuer: \""+idp.URL+"/\", jwks_url: \""+idp.URL+"/jwks\", algorithms: [EdDSA]}]}\n")
	}
	withTokens := func(b *testing.B, h http.Handler, n int) {
		probe := httptest.NewRequest(http.MethodGet, "/orders/1", nil)
		probe.Header.Set("Authorization", "Bearer "+tokens[0])
		w := httptest.NewRecorder()
		h.ServeHTTP(w, probe)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			req := httptest.NewRequest(http.MethodGet, "/orders/1", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			for pb.Next() {
				req.Header.Set("Authorization", "Bearer "+tokens[int(next.Add(1))%n])
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
			}
		})
	}
	b.Run("floor", func(b *testing.B) { run(b, floor(up.URL)) })
	b.Run("gatehouse", func(b *testing.B) { run(b, gateway(b, up.URL, true)) })
	b.Run("gatehouse-same-header-no-auth", func(b *testing.B) { withTokens(b, gateway(b, up.URL, true), 1) })
	b.Run("gatehouse-jwt-1-token", func(b *testing.B) { withTokens(b, jwtRoute(), 1) })
	b.Run("gatehouse-jwt-10000-tokens", func(b *testing.B) { withTokens(b, jwtRoute(), len(tokens)) })
}
