package gatehouse

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/edge"
)

// upstream is a test backend that records what reaches it.
type upstream struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	last *http.Request
}

func newUpstream(t testing.TB, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Server", "upstream/9.9")
			w.Header().Set("X-Powered-By", "PHP/5.1")
			w.Header().Set("X-Content-Type-Options", "upstream-value")
			fmt.Fprintf(w, "path=%s", r.URL.EscapedPath())
		}
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		u.last = r.Clone(context.Background())
		u.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) lastRequest() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

type testGateway struct {
	gw  *Gateway
	srv *httptest.Server
	log *bytes.Buffer
	mu  *sync.Mutex
}

type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (tg *testGateway) logs() string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.log.String()
}

// startGateway compiles src (with {{UP}} replaced by the upstream URL) and
// serves it on a real loopback listener.
func startGateway(t *testing.T, src string) *testGateway {
	t.Helper()
	cfg := mustParse(t, src)
	buf, mu := &bytes.Buffer{}, &sync.Mutex{}
	log := slog.New(slog.NewJSONHandler(lockedBuffer{mu, buf}, nil))
	gw, err := New(cfg, Deps{Log: log, AccessLog: lockedBuffer{mu, buf}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return &testGateway{gw: gw, srv: srv, log: buf, mu: mu}
}

func routeYAML(up string, extra string) string {
	return fmt.Sprintf(`
limits: {max_body_bytes: 1KiB, max_uri_bytes: 512}
routes:
  - name: orders
    match: {methods: [GET, POST], path: /api/orders}
    upstream: {url: %q, strip_prefix: /api}
  - name: order
    match: {methods: [GET, PUT], path: "/api/orders/{id}"}
    max_body_bytes: 64
    upstream: {url: %q, strip_prefix: /api}
%s`, up, up, extra)
}

type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
}

// checkProblem asserts PD-01 on a gateway-made error.
func checkProblem(t *testing.T, res *http.Response, status int, typ string) problemBody {
	t.Helper()
	defer res.Body.Close()
	if res.StatusCode != status {
		t.Fatalf("status = %d, want %d", res.StatusCode, status)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problemBody
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.Status != status || !strings.HasSuffix(p.Type, "/"+typ) || p.Detail == "" {
		t.Errorf("problem = %+v, want status %d type %s", p, status, typ)
	}
	if p.RequestID == "" || p.RequestID != res.Header.Get("X-Request-Id") {
		t.Errorf("problem request_id %q, header %q", p.RequestID, res.Header.Get("X-Request-Id"))
	}
	checkSecurityHeaders(t, res)
	return p
}

// HDR-01 on every response.
func checkSecurityHeaders(t *testing.T, res *http.Response) {
	t.Helper()
	h := res.Header
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("security headers missing: %v", h)
	}
	if len(h.Values("X-Content-Type-Options")) != 1 {
		t.Errorf("X-Content-Type-Options duplicated: %v", h.Values("X-Content-Type-Options"))
	}
	if h.Get("Server") != "" || h.Get("X-Powered-By") != "" {
		t.Errorf("banner headers not stripped: Server=%q X-Powered-By=%q", h.Get("Server"), h.Get("X-Powered-By"))
	}
}

func do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func get(t *testing.T, url string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return do(t, req)
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestProxiesMatchedRoute(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, routeYAML(up.URL, ""))
	res := get(t, g.srv.URL+"/api/orders/7")
	checkSecurityHeaders(t, res)
	if got := body(t, res); res.StatusCode != 200 || got != "path=/orders/7" {
		t.Fatalf("status %d body %q", res.StatusCode, got)
	}
	if up.hits.Load() != 1 {
		t.Fatalf("upstream hits = %d", up.hits.Load())
	}
}

// PRX-06: unmatched requests get a 404 problem and are never proxied.
func TestUnmatchedIs404AndNeverProxied(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, routeYAML(up.URL, ""))
	for _, p := range []string{"/", "/orders", "/api/orders/1/extra", "/metrics", "/healthz", "/api/ordersx"} {
		checkProblem(t, get(t, g.srv.URL+p), 404, "not-found")
	}
	if n := up.hits.Load(); n != 0 {
		t.Fatalf("upstream was reached %d times", n)
	}
}

// PRX-02: other methods get 405 with Allow; TRACE and CONNECT never reach upstreams.
func TestMethods(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, routeYAML(up.URL, `  - name: any
    match: {path: /any}
    upstream: {url: "`+up.URL+`"}
`))
	req, _ := http.NewRequest(http.MethodDelete, g.srv.URL+"/api/orders/1", nil)
	res := do(t, req)
	if allow := res.Header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "PUT") {
		t.Errorf("Allow = %q", allow)
	}
	checkProblem(t, res, 405, "method-not-allowed")
	for _, m := range []string{http.MethodTrace, "TRACK"} {
		req, _ := http.NewRequest(m, g.srv.URL+"/any", nil)
		res := do(t, req)
		if m == http.MethodTrace {
			checkProblem(t, res, 405, "method-not-allowed")
		} else {
			res.Body.Close()
		}
	}
	if r := up.lastRequest(); r != nil && r.Method == http.MethodTrace {
		t.Fatal("TRACE reached the upstream")
	}
	// CONNECT, sent raw.
	status := rawRequest(t, g.srv.Listener.Addr().String(), "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
	if !strings.Contains(status, "405") {
		t.Errorf("CONNECT answered %q", status)
	}
	if r := up.lastRequest(); r != nil && r.Method == http.MethodConnect {
		t.Fatal("CONNECT reached the upstream")
	}
}

func rawRequest(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return line
}

// PRX-05: a request never reaches a route it was not matched to, and the
// upstream receives the normal form that was matched.
func TestPathNormalisation(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, routeYAML(up.URL, ""))
	tests := []struct {
		raw      string
		status   int
		upstream string
	}{
		{"/api/orders/../orders/5", 200, "/orders/5"},
		{"/api//orders//5", 200, "/orders/5"},
		{"/api/./orders/5", 200, "/orders/5"},
		{"/api/x/%2e%2e/orders/5", 200, "/orders/5"},
		{"/api/%6Frders/5", 200, "/orders/5"},
		{"/api/orders/5/..", 404, ""},
		{"/api/orders%2F5", 400, ""},
		{"/api/orders/..%2F..%2Fadmin", 400, ""},
		{"/api/orders/5%5C..%5Cadmin", 400, ""},
		{"/api/orders/%00", 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			before := up.hits.Load()
			status := rawRequest(t, g.srv.Listener.Addr().String(), "GET "+tc.raw+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if !strings.Contains(status, fmt.Sprint(tc.status)) {
				t.Fatalf("status line %q, want %d", status, tc.status)
			}
			if tc.upstream == "" {
				if up.hits.Load() != before {
					t.Fatal("refused path reached the upstream")
				}
				return
			}
			if got := up.lastRequest().URL.EscapedPath(); got != tc.upstream {
				t.Errorf("upstream path %q, want %q", got, tc.upstream)
			}
		})
	}
}

// PRX-01: client-sent forwarding and identity headers are replaced.
func TestForwardedHeadersFromUntrustedPeer(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, routeYAML(up.URL, ""))
	req, _ := http.NewRequest(http.MethodGet, g.srv.URL+"/api/orders", nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Forwarded", "for=6.6.6.6")
	req.Header.Set("X-Real-IP", "6.6.6.6")
	req.Header.Set("X-Request-Id", "attacker-chosen-id")
	req.Header.Set("X-Gatehouse-Subject", "admin")
	req.Header.Set("X-Gatehouse-Roles", "gatehouse:admin")
	res := do(t, req)
	body(t, res)
	r := up.lastRequest()
	if got := r.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the peer 127.0.0.1", got)
	}
	if got := r.Header.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto = %q", got)
	}
	if got := r.Header.Get("X-Forwarded-Host"); got != strings.TrimPrefix(g.srv.URL, "http://") {
		t.Errorf("X-Forwarded-Host = %q", got)
	}
	for _, h := range []string{"Forwarded", "X-Real-Ip", "X-Gatehouse-Subject", "X-Gatehouse-Roles"} {
		if v := r.Header.Get(h); v != "" {
			t.Errorf("%s reached the upstream: %q", h, v)
		}
	}
	if id := r.Header.Get("X-Request-Id"); id == "attacker-chosen-id" || id != res.Header.Get("X-Request-Id") {
		t.Errorf("X-Request-Id upstream %q, response %q", id, res.Header.Get("X-Request-Id"))
	}
	if !strings.Contains(g.logs(), `"client_ip":"127.0.0.1"`) || strings.Contains(g.logs(), "6.6.6.6") {
		t.Errorf("access log client_ip wrong:\n%s", g.logs())
	}
}

func TestForwardedHeadersFromTrustedProxy(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, "trusted_proxies: [127.0.0.1/32]\n"+routeYAML(up.URL, ""))
	req, _ := http.NewRequest(http.MethodGet, g.srv.URL+"/api/orders", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Request-Id", "edge-1234567890")
	body(t, do(t, req))
	r := up.lastRequest()
	if got := r.Header.Get("X-Forwarded-For"); got != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	if got := r.Header.Get("X-Request-Id"); got != "edge-1234567890" {
		t.Errorf("request id from a trusted proxy not kept: %q", got)
	}
	if !strings.Contains(g.logs(), `"client_ip":"203.0.113.7"`) {
		t.Errorf("client ip from trusted proxy not used:\n%s", g.logs())
	}
}

// PRX-04: URI, declared body and streamed body limits.
func TestLimits(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		w.WriteHeader(204)
	})
	g := startGateway(t, routeYAML(up.URL, ""))
	checkProblem(t, get(t, g.srv.URL+"/api/orders?q="+strings.Repeat("a", 600)), 414, "uri-too-long")

	req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/api/orders", strings.NewReader(strings.Repeat("x", 2000)))
	checkProblem(t, do(t, req), 413, "body-too-large")
	if up.hits.Load() != 0 {
		t.Fatal("an over-limit declared body reached the upstream")
	}
	// Route limit (64 bytes) is lower than the global one.
	req, _ = http.NewRequest(http.MethodPut, g.srv.URL+"/api/orders/1", strings.NewReader(strings.Repeat("x", 100)))
	checkProblem(t, do(t, req), 413, "body-too-large")
	// A chunked body with no length is cut off at the limit.
	req, _ = http.NewRequest(http.MethodPut, g.srv.URL+"/api/orders/1", io.MultiReader(strings.NewReader(strings.Repeat("y", 100))))
	req.ContentLength = -1
	checkProblem(t, do(t, req), 413, "body-too-large")
	// Within limits passes.
	req, _ = http.NewRequest(http.MethodPut, g.srv.URL+"/api/orders/1", strings.NewReader("small"))
	if res := do(t, req); res.StatusCode != 204 {
		t.Fatalf("small body: %d", res.StatusCode)
	}
}

// PRX-03: the upstream sees one framing only, whatever the client sent; a
// chunked request's connection is closed after the response so bytes after
// the body are never read as another request.
func TestSmugglingStyleFraming(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "cl=%d te=%v body=%q", r.ContentLength, r.TransferEncoding, b)
	})
	g := startGateway(t, routeYAML(up.URL, ""))
	c, err := net.Dial("tcp", g.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	smuggled := "GET /api/orders/1 HTTP/1.1\r\nHost: x\r\n\r\n"
	raw := "POST /api/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + smuggled
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := body(t, res)
	if !strings.Contains(got, `body="abc"`) {
		t.Errorf("upstream saw %q", got)
	}
	if !res.Close {
		t.Error("connection not marked for close after a chunked request")
	}
	if _, err := http.ReadResponse(br, nil); err == nil {
		t.Error("the bytes after the chunked body were served as a second request")
	}
	if n := up.hits.Load(); n != 1 {
		t.Errorf("upstream hits = %d, want 1", n)
	}
	// A chunked request the limits refuse also gets its connection closed.
	for _, target := range []string{"/api/orders;x=1", "/api/%2e%2e;/admin", "/api/a%2Fb"} {
		c, err := net.Dial("tcp", g.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, "POST "+target+" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"+smuggled)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || res.StatusCode != 400 || !res.Close {
			t.Errorf("refused chunked %s: %v %v", target, res, err)
		}
	}
	// Conflicting Content-Length values are refused by the server.
	if s := rawRequest(t, g.srv.Listener.Addr().String(), "POST /api/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"); !strings.Contains(s, "400") {
		t.Errorf("conflicting Content-Length answered %q", s)
	}
	// CR in a header value is refused.
	if s := rawRequest(t, g.srv.Listener.Addr().String(), "GET /api/orders HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"); !strings.Contains(s, "400") {
		t.Errorf("CR in header answered %q", s)
	}
}

// Upstream failures: down, hanging, resetting, redirecting.
func TestUpstreamFailures(t *testing.T) {
	t.Run("down is 502", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		g := startGateway(t, routeYAML("http://"+addr, ""))
		p := checkProblem(t, get(t, g.srv.URL+"/api/orders"), 502, "bad-gateway")
		if strings.Contains(p.Detail, addr) || strings.Contains(p.Detail, "127.0.0.1") {
			t.Errorf("problem leaks the upstream address: %q", p.Detail)
		}
		if !strings.Contains(g.logs(), "connection refused") {
			t.Errorf("cause not logged:\n%s", g.logs())
		}
	})
	t.Run("hang is 504", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		g := startGateway(t, strings.Replace(routeYAML(up.URL, ""), "strip_prefix: /api}", "strip_prefix: /api, response_header_timeout: 200ms}", 1))
		checkProblem(t, get(t, g.srv.URL+"/api/orders"), 504, "gateway-timeout")
	})
	t.Run("reset is 502", func(t *testing.T) {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				c.Close()
			}
		})
		g := startGateway(t, routeYAML(up.URL, ""))
		checkProblem(t, get(t, g.srv.URL+"/api/orders"), 502, "bad-gateway")
	})
	t.Run("redirect is passed back, not followed", func(t *testing.T) {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/orders" {
				http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
				return
			}
			t.Errorf("redirect was followed to %s", r.URL)
		})
		g := startGateway(t, routeYAML(up.URL, ""))
		res := get(t, g.srv.URL+"/api/orders")
		res.Body.Close()
		if res.StatusCode != 302 || res.Header.Get("Location") != "http://169.254.169.254/latest/meta-data" {
			t.Errorf("got %d Location %q", res.StatusCode, res.Header.Get("Location"))
		}
		if up.hits.Load() != 1 {
			t.Errorf("upstream hits %d", up.hits.Load())
		}
	})
}

// Round robin over several targets, skipping one that refuses connections.
func TestRoundRobinAndPassiveHealth(t *testing.T) {
	a := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a") })
	b := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	g := startGateway(t, fmt.Sprintf(`
routes:
  - name: rr
    match: {path: /rr}
    upstream: {urls: [%q, %q, %q], unhealthy_for: 1h}
`, a.URL, b.URL, dead))
	seen := map[string]int{}
	for range 12 {
		res := get(t, g.srv.URL+"/rr")
		if res.StatusCode != 200 {
			t.Fatalf("status %d: a dead target must be retried on a live one", res.StatusCode)
		}
		seen[body(t, res)]++
	}
	if seen["a"] < 4 || seen["b"] < 4 {
		t.Errorf("uneven spread over live targets: %v", seen)
	}
}

func TestStripPrefixAndPreserveHost(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, fmt.Sprintf(`
routes:
  - name: a
    match: {path: /svc/}
    upstream: {url: "%s/base", strip_prefix: /svc, preserve_host: true}
`, up.URL))
	req, _ := http.NewRequest(http.MethodGet, g.srv.URL+"/svc/x/y?q=1", nil)
	req.Host = "api.example.test"
	body(t, do(t, req))
	r := up.lastRequest()
	if r.URL.Path != "/base/x/y" || r.URL.RawQuery != "q=1" || r.Host != "api.example.test" {
		t.Errorf("upstream got path %q query %q host %q", r.URL.Path, r.URL.RawQuery, r.Host)
	}
}

func TestHostMatching(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, fmt.Sprintf(`
routes:
  - name: a
    match: {host: api.example.test, path: /x}
    upstream: {url: %q}
`, up.URL))
	req, _ := http.NewRequest(http.MethodGet, g.srv.URL+"/x", nil)
	req.Host = "other.example.test"
	checkProblem(t, do(t, req), 404, "not-found")
	req.Host = "api.example.test"
	if res := do(t, req); res.StatusCode != 200 {
		t.Errorf("host match: %d", res.StatusCode)
	}
}

// LOG-02: the access log holds no credentials, cookies or query values, and
// CR/LF from the client cannot forge a line.
func TestAccessLogRedaction(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, routeYAML(up.URL, ""))
	req, _ := http.NewRequest(http.MethodGet, g.srv.URL+"/api/orders?api_key=supersecretvalue&page=2", nil)
	req.Header.Set("Authorization", "Bearer topsecrettoken")
	req.Header.Set("Cookie", "session=cookievalue")
	body(t, do(t, req))
	rawRequest(t, g.srv.Listener.Addr().String(), "GET /api/orders/a%0d%0aFAKE HTTP/1.1\r\nHost: x\r\n\r\n")
	rawRequest(t, g.srv.Listener.Addr().String(), "GET /api/orders/a%22,%22status%22:200 HTTP/1.1\r\nHost: x\r\n\r\n")
	logs := g.logs()
	for _, secret := range []string{"supersecretvalue", "topsecrettoken", "cookievalue", "Authorization", "Cookie"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON (forged?): %q", l)
		}
		if m["msg"] == "request" {
			for _, k := range []string{"time", "request_id", "method", "route", "path", "status", "bytes", "duration_ms", "client_ip"} {
				if _, ok := m[k]; !ok {
					t.Errorf("access log line lacks %s: %s", k, l)
				}
			}
		}
	}
	if !strings.Contains(logs, `"query_keys":["api_key","page"]`) {
		t.Errorf("query keys not logged:\n%s", logs)
	}
}

// CFG-03: a broken reload keeps the old snapshot serving; a good one applies.
func TestReloadAllOrNothing(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, routeYAML(up.URL, ""))
	dir := t.TempDir()
	file := filepath.Join(dir, "gatehouse.yaml")

	broken := routeYAML(up.URL, "  - name: orders\n    match: {path: /dup}\n    upstream: {url: \""+up.URL+"\"}\n")
	if err := os.WriteFile(file, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.gw.ReloadFile(file); err == nil {
		t.Fatal("a config with a duplicate route reloaded")
	}
	if res := get(t, g.srv.URL+"/api/orders"); res.StatusCode != 200 {
		t.Fatalf("old config stopped serving after a failed reload: %d", res.StatusCode)
	}
	conflicting := routeYAML(up.URL, "  - name: clash\n    match: {methods: [GET], path: /api/orders}\n    upstream: {url: \""+up.URL+"\"}\n")
	if err := g.gw.Reload(mustParseNoValidate(t, conflicting)); err == nil {
		t.Fatal("a conflicting route set compiled")
	}
	good := routeYAML(up.URL, "  - name: new\n    match: {path: /new}\n    upstream: {url: \""+up.URL+"\"}\n")
	if err := os.WriteFile(file, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.gw.ReloadFile(file); err != nil {
		t.Fatal(err)
	}
	if res := get(t, g.srv.URL+"/new"); res.StatusCode != 200 {
		t.Fatalf("new route not served: %d", res.StatusCode)
	}
	if !strings.Contains(g.logs(), "config reload failed") {
		t.Error("failed reload not logged")
	}
}

// mustParseNoValidate decodes without validation, to hand Reload a config
// that only compile-time checks can refuse.
func mustParseNoValidate(t *testing.T, src string) *Config {
	t.Helper()
	c := &Config{}
	d := &decoder{lines: map[string]int{}}
	d.document([]byte(src), c)
	if len(d.errs) > 0 {
		t.Fatal(d.errs)
	}
	c.applyDefaults()
	return c
}

func TestRequestIDsAreUnique(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, routeYAML(up.URL, ""))
	seen := map[string]bool{}
	for range 50 {
		res := get(t, g.srv.URL+"/nope")
		res.Body.Close()
		id := res.Header.Get("X-Request-Id")
		if len(id) < 20 || seen[id] {
			t.Fatalf("request id %q short or repeated", id)
		}
		seen[id] = true
	}
}

func TestRecoverStage(t *testing.T) {
	buf := &bytes.Buffer{}
	h := edge.Recover{Log: slog.New(slog.NewJSONHandler(buf, nil))}.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom: secret internals")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "boom") || strings.Contains(rec.Body.String(), "goroutine") {
		t.Errorf("panic answer %d %q", rec.Code, rec.Body.String())
	}
	if !strings.Contains(buf.String(), "boom") || !strings.Contains(buf.String(), "stack") {
		t.Errorf("panic not logged with stack: %s", buf.String())
	}
}

func TestMetricsCountRoutes(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, routeYAML(up.URL, ""))
	body(t, get(t, g.srv.URL+"/api/orders"))
	body(t, get(t, g.srv.URL+"/missing"))
	mfs, err := g.gw.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "gatehouse_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var route, code string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "route":
					route = l.GetValue()
				case "code":
					code = l.GetValue()
				}
			}
			counts[route+"/"+code] = m.GetCounter().GetValue()
		}
	}
	if counts["orders/2xx"] != 1 || counts["/4xx"] != 1 {
		t.Errorf("counts = %v", counts)
	}
}

// TLS-07: upstream certificates are verified against the system roots or
// the configured CA; skipping verification is an explicit, logged opt-in.
func TestUpstreamTLSVerification(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secure") }))
	defer up.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pemCert(up.Certificate().Raw), 0o600); err != nil {
		t.Fatal(err)
	}
	route := func(extra string) string {
		return fmt.Sprintf("routes:\n  - name: tls\n    match: {path: /s}\n    upstream: {url: %q%s}\n", up.URL, extra)
	}
	g := startGateway(t, route(""))
	p := checkProblem(t, get(t, g.srv.URL+"/s"), 502, "bad-gateway")
	if strings.Contains(p.Detail, "x509") {
		t.Errorf("TLS detail leaked to the client: %q", p.Detail)
	}
	if !strings.Contains(g.logs(), "certificate") {
		t.Errorf("verification failure not logged:\n%s", g.logs())
	}
	g = startGateway(t, route(", ca_file: "+caFile+", server_name: example.com"))
	if res := get(t, g.srv.URL+"/s"); res.StatusCode != 200 || body(t, res) != "secure" {
		t.Errorf("custom CA: %d", res.StatusCode)
	}
	g = startGateway(t, route(", insecure_skip_verify: true"))
	if res := get(t, g.srv.URL+"/s"); res.StatusCode != 200 {
		t.Errorf("insecure_skip_verify: %d", res.StatusCode)
	}
	if !strings.Contains(g.logs(), "insecure_skip_verify") {
		t.Error("insecure opt-in not logged")
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// RL-01..03 through the whole pipeline: the limit holds whatever
// X-Forwarded-For an untrusted peer sends, survives a reload, and is counted.
func TestRateLimitedRoute(t *testing.T) {
	up := newUpstream(t, nil)
	src := fmt.Sprintf(`
routes:
  - name: limited
    match: {path: /limited}
    rate_limit:
      policies:
        - {name: burst, limit: 3, window: 1h}
    upstream: {url: %q}
`, up.URL)
	g := startGateway(t, src)
	call := func(xff string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, g.srv.URL+"/limited", nil)
		req.Header.Set("X-Forwarded-For", xff)
		return do(t, req)
	}
	for i := range 3 {
		res := call(fmt.Sprintf("198.51.100.%d", i))
		body(t, res)
		if res.StatusCode != 200 || res.Header.Get("RateLimit") == "" || res.Header.Get("RateLimit-Policy") != `"burst";q=3;w=3600` {
			t.Fatalf("request %d: %d RateLimit %q Policy %q", i, res.StatusCode, res.Header.Get("RateLimit"), res.Header.Get("RateLimit-Policy"))
		}
	}
	res := call("198.51.100.99") // a new spoofed address does not buy a new bucket
	checkProblem(t, res, 429, "quota-exceeded")
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if n := up.hits.Load(); n != 3 {
		t.Errorf("upstream hits %d, want 3", n)
	}
	if err := g.gw.Reload(mustParse(t, src)); err != nil {
		t.Fatal(err)
	}
	checkProblem(t, call("198.51.100.1"), 429, "quota-exceeded")
	mfs, _ := g.gw.Metrics().Registry.Gather()
	var limited float64
	for _, mf := range mfs {
		if mf.GetName() == "gatehouse_ratelimit_decisions_total" {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" && l.GetValue() == "limited" {
						limited += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	if limited != 2 {
		t.Errorf("limited decisions counted %v, want 2", limited)
	}
}

func TestRateLimitConfigErrors(t *testing.T) {
	for _, tc := range []struct{ src, path, msg string }{
		{"rate_limit: {policies: [{name: a, limit: 0, window: 1s}]}", "routes[0].rate_limit.policies[0].limit", "greater than zero"},
		{"rate_limit: {policies: [{name: a, limit: 1, window: 1h, burst: 10000000}]}", "routes[0].rate_limit.policies[0].burst", "must not exceed"},
		{"rate_limit: {policies: [{name: a, limit: 5, window: 1s, key: [subject], stage: pre_auth}]}", "routes[0].rate_limit.policies[0].key[0]", "not known before authentication"},
		{"rate_limit: {policies: [{name: a, limit: 5, window: 1s, key: [cookie]}]}", "routes[0].rate_limit.policies[0].key[0]", "unknown key part"},
		{"rate_limit: {policies: [{name: a, limit: 5, window: 1s}, {name: a, limit: 6, window: 1s}]}", "routes[0].rate_limit.policies[1].name", "duplicate policy"},
		{"rate_limit: {headers: sometimes, concurrency: {limit: 2}}", "routes[0].rate_limit.headers", "must be one of"},
	} {
		errs := parseErrors(t, "routes:\n  - name: r\n    match: {path: /r}\n    upstream: {url: \"http://x\"}\n    "+tc.src+"\n")
		found := false
		for _, e := range errs {
			if e.Path == tc.path && strings.Contains(e.Msg, tc.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no error at %s with %q; got %v", tc.src, tc.path, tc.msg, errs)
		}
	}
	errs := parseErrors(t, "rate_limit: {backend: redis}\n")
	if errs[0].Path != "rate_limit.redis" {
		t.Errorf("redis backend without redis: %v", errs)
	}
}
