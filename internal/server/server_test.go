package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/certs"
)

type running struct {
	Ready
	client   *http.Client
	roots    *x509.CertPool
	cancel   context.CancelFunc
	done     chan error
	reloaded chan error
	draining chan struct{}
	path     string
	logs     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const baseConfig = `
data_dir: %q
listen: {address: "127.0.0.1:0"}
http: {address: "127.0.0.1:0"}
admin: {address: "127.0.0.1:0"%s}
server: {read_header_timeout: 1s, shutdown_timeout: 10s, max_header_bytes: 4KiB}
routes:
  - name: api
    match: {path: /api/}
    upstream: {url: %q}
  - name: page
    browser: true
    match: {methods: [GET], path: /page}
    upstream: {url: %q}
%s`

// start runs a whole gateway process (in-process) with the given extra routes.
func start(t *testing.T, upstream string, extra string) *running {
	t.Helper()
	return startWith(t, upstream, "", extra)
}

// startWith also adds adminExtra (flow-style fields) to the admin listener.
func startWith(t *testing.T, upstream, adminExtra, extra string) *running {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.yaml")
	writeConfig(t, path, fmt.Sprintf(baseConfig, dir, adminExtra, upstream, upstream, extra))
	cfg, err := gatehouse.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), reloaded: make(chan error, 8), draining: make(chan struct{}), path: path, logs: &syncBuffer{}}
	readyc := make(chan Ready, 1)
	reload := make(chan struct{}, 1)
	go func() {
		r.done <- Run(ctx, Options{Config: cfg, ConfigPath: path, Reload: reload, LogOutput: r.logs,
			OnReady: func(rd Ready) { readyc <- rd }, OnReload: func(err error) { r.reloaded <- err },
			OnShutdown: func() { close(r.draining) }})
	}()
	select {
	case rd := <-readyc:
		r.Ready = rd
	case err := <-r.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not start")
	}
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	pem, err := os.ReadFile(r.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	r.roots = x509.NewCertPool()
	r.roots.AppendCertsFromPEM(pem)
	r.client = &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.roots}, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	return r
}

func writeConfig(t *testing.T, path, src string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func (r *running) get(t *testing.T, url string) *http.Response {
	t.Helper()
	res, err := r.client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func echoUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream %s", r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestServeHTTPS(t *testing.T) {
	up := echoUpstream(t)
	r := start(t, up.URL, "")
	res := r.get(t, "https://"+r.PublicAddr+"/api/x")
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(b) != "upstream /api/x" {
		t.Fatalf("%d %q", res.StatusCode, b)
	}
	if res.ProtoMajor != 2 {
		t.Errorf("proto %s, want HTTP/2", res.Proto)
	}
	// TLS-05: HSTS on every HTTPS response, errors included.
	for _, p := range []string{"/api/x", "/nothing"} {
		if h := r.get(t, "https://"+r.PublicAddr+p).Header.Get("Strict-Transport-Security"); h != "max-age=63072000; includeSubDomains" {
			t.Errorf("%s: HSTS = %q", p, h)
		}
	}
}

// TLS-06: plain HTTP on API routes is refused, browser pages are redirected.
func TestPlainHTTPListener(t *testing.T) {
	up := echoUpstream(t)
	r := start(t, up.URL, "")
	res := r.get(t, "http://"+r.HTTPAddr+"/api/x")
	if res.StatusCode != 403 || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("API over HTTP: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent over plain HTTP")
	}
	res = r.get(t, "http://"+r.HTTPAddr+"/page?x=1")
	if res.StatusCode != 308 || !strings.HasPrefix(res.Header.Get("Location"), "https://") || !strings.HasSuffix(res.Header.Get("Location"), "/page?x=1") {
		t.Errorf("browser page over HTTP: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	// PRX-10: the Location is built only from a configured name.
	for host, want := range map[string]string{"evil.example": "", "127.0.0.1": "https://127.0.0.1/page", "LOCALHOST.": "https://localhost/page", "localhost:8080": "https://localhost/page"} {
		req, _ := http.NewRequest("GET", "http://"+r.HTTPAddr+"/page", nil)
		req.Host = host
		res, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if loc := res.Header.Get("Location"); loc != want || want == "" && res.StatusCode != 400 {
			t.Errorf("Host %q: %d Location %q, want %q", host, res.StatusCode, loc, want)
		}
	}
}

// PRX-06: health, readiness and metrics only on the admin listener.
func TestAdminListener(t *testing.T) {
	up := echoUpstream(t)
	r := start(t, up.URL, "")
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if res := r.get(t, "https://"+r.AdminAddr+p); res.StatusCode != 200 {
			t.Errorf("admin %s: %d", p, res.StatusCode)
		}
		if res := r.get(t, "https://"+r.PublicAddr+p); res.StatusCode != 404 {
			t.Errorf("public %s: %d, want 404", p, res.StatusCode)
		}
	}
	r.get(t, "https://"+r.PublicAddr+"/api/x")
	b, _ := io.ReadAll(r.get(t, "https://"+r.AdminAddr+"/metrics").Body)
	for _, m := range []string{`gatehouse_requests_total{code="2xx",route="api"} 1`, "gatehouse_request_duration_seconds_bucket", `gatehouse_config_reloads_total{result="ok"} 0`, `gatehouse_upstream_errors_total{kind="connect",route="api"} 0`} {
		if !strings.Contains(string(b), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

func TestTLSVersionsOnListener(t *testing.T) {
	up := echoUpstream(t)
	r := start(t, up.URL, "")
	_, err := tls.Dial("tcp", r.PublicAddr, &tls.Config{RootCAs: r.roots, ServerName: "localhost", MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
	if err == nil {
		t.Fatal("TLS 1.1 accepted on the public listener")
	}
}

// PRX-04: oversized headers refused; a slow client is dropped.
func TestHeaderLimitAndSlowClient(t *testing.T) {
	up := echoUpstream(t)
	r := start(t, up.URL, "")
	req, _ := http.NewRequest("GET", "https://"+r.PublicAddr+"/api/x", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	res, err := r.client.Transport.(*http.Transport).RoundTrip(req)
	if err == nil {
		res.Body.Close()
		if res.StatusCode != 431 {
			t.Errorf("oversized header: %d", res.StatusCode)
		}
	}
	// Slowloris: headers never finish; read_header_timeout (1s) closes the connection.
	c, err := tls.Dial("tcp", r.PublicAddr, &tls.Config{RootCAs: r.roots, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /api/x HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("slow client kept the connection for 15s")
			}
			return // closed by the server
		}
	}
}

// CFG-03 on a running process: file change and SIGHUP reload; a broken
// file keeps the old config.
func TestHotReload(t *testing.T) {
	up := echoUpstream(t)
	r := start(t, up.URL, "")
	if res := r.get(t, "https://"+r.PublicAddr+"/new"); res.StatusCode != 404 {
		t.Fatalf("/new before reload: %d", res.StatusCode)
	}
	dir := filepath.Dir(r.path)
	good := fmt.Sprintf(baseConfig, dir, "", up.URL, up.URL, "  - name: new\n    match: {path: /new}\n    upstream: {url: \""+up.URL+"\"}\n")
	writeConfig(t, r.path, good)
	waitReload(t, r.reloaded, true)
	if res := r.get(t, "https://"+r.PublicAddr+"/new"); res.StatusCode != 200 {
		t.Fatalf("/new after reload: %d", res.StatusCode)
	}
	writeConfig(t, r.path, good+"  - name: new\n    match: {path: /dup}\n    upstream: {url: \""+up.URL+"\"}\n")
	waitReload(t, r.reloaded, false)
	if res := r.get(t, "https://"+r.PublicAddr+"/new"); res.StatusCode != 200 {
		t.Fatalf("old config not kept after a broken reload: %d", res.StatusCode)
	}
	if !strings.Contains(r.logs.String(), "config reload failed") {
		t.Error("failed reload not logged")
	}
	b, _ := io.ReadAll(r.get(t, "https://"+r.AdminAddr+"/metrics").Body)
	if !strings.Contains(string(b), `gatehouse_config_reloads_total{result="failed"} 1`) {
		t.Error("failed reload not counted")
	}
}

func waitReload(t *testing.T, ch chan error, wantOK bool) {
	t.Helper()
	select {
	case err := <-ch:
		if (err == nil) != wantOK {
			t.Fatalf("reload result %v, want ok=%v", err, wantOK)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no reload happened")
	}
}

// Graceful shutdown drains in-flight requests.
func TestGracefulShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	}))
	defer up.Close()
	r := start(t, up.URL, "")
	got := make(chan string, 1)
	go func() {
		res, err := r.client.Get("https://" + r.PublicAddr + "/api/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- fmt.Sprintf("%d %s", res.StatusCode, b)
	}()
	<-entered
	r.cancel()
	// The listener stops accepting while the request is in flight.
	select {
	case <-r.draining:
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown did not start")
	}
	if c, err := net.DialTimeout("tcp", r.PublicAddr, time.Second); err == nil {
		c.Close()
		t.Fatal("listener still accepting during shutdown")
	}
	select {
	case s := <-got:
		t.Fatalf("in-flight request ended before it was released: %s", s)
	default:
	}
	close(release)
	if s := <-got; s != "200 finished" {
		t.Fatalf("in-flight request got %q", s)
	}
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	r.done <- nil // for the cleanup
}

func TestBadDataDir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	cfg, err := gatehouse.Parse("t.yaml", []byte(fmt.Sprintf("data_dir: %q\nlisten: {address: \"127.0.0.1:0\"}\nadmin: {address: \"127.0.0.1:0\"}\n", filepath.Join(f, "data"))))
	if err != nil {
		t.Fatal(err)
	}
	err = Run(context.Background(), Options{Config: cfg, Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "data_dir") {
		t.Fatalf("err = %v, want a data_dir error", err)
	}
}

func TestListenerInUse(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	cfg, _ := gatehouse.Parse("t.yaml", []byte(fmt.Sprintf("data_dir: %q\nlisten: {address: %q}\nadmin: {address: \"127.0.0.1:0\"}\n", t.TempDir(), ln.Addr().String())))
	err := Run(context.Background(), Options{Config: cfg, Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "public listener") {
		t.Fatalf("err = %v", err)
	}
}

func TestVersionInfo(t *testing.T) {
	v := VersionInfo("v9.9.9")
	for _, want := range []string{"gatehouse v9.9.9", "commit", "go1.", "modules:"} {
		if !strings.Contains(v, want) {
			t.Errorf("version info lacks %q:\n%s", want, v)
		}
	}
}

// TLS-08 on the admin listener: only clients with a certificate from the
// configured CA connect.
func TestAdminClientAuth(t *testing.T) {
	up := echoUpstream(t)
	caDir := t.TempDir()
	ca, err := certs.EnsureSelfSigned(caDir, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := startWith(t, up.URL, fmt.Sprintf(", client_auth: {ca_file: %q}", ca.CAFile), "")
	if _, err := r.client.Get("https://" + r.AdminAddr + "/healthz"); err == nil {
		t.Fatal("admin answered a client without a certificate")
	}
	cert, err := certs.IssueClient(caDir, "ops", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.roots, Certificates: []tls.Certificate{cert}}}}
	res, err := c.Get("https://" + r.AdminAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("admin with a client certificate: %d", res.StatusCode)
	}
}

// Editing an OpenAPI document the config names, or a file it refers to,
// reloads the config like editing the config itself.
func TestReloadOnDocumentChange(t *testing.T) {
	up := echoUpstream(t)
	specDir := t.TempDir()
	spec := filepath.Join(specDir, "api.yaml")
	schemas := filepath.Join(specDir, "schemas.yaml")
	writeConfig(t, spec, "openapi: 3.1.0\ninfo: {title: t, version: \"1\"}\npaths:\n  /v/items:\n    get:\n      parameters: [{name: n, in: query, schema: {$ref: \"./schemas.yaml#/N\"}}]\n      responses: {\"200\": {description: ok}}\n")
	writeConfig(t, schemas, "N: {type: integer, maximum: 10}\n")
	r := start(t, up.URL, fmt.Sprintf("  - name: v\n    match: {path: /v/items}\n    upstream: {url: %q}\n    validate: {openapi: %q}\n", up.URL, spec))
	if res := r.get(t, "https://"+r.PublicAddr+"/v/items?n=50"); res.StatusCode != 400 {
		t.Fatalf("n=50 under maximum 10: %d", res.StatusCode)
	}
	writeConfig(t, schemas, "N: {type: integer, maximum: 100}\n")
	waitReload(t, r.reloaded, true)
	if res := r.get(t, "https://"+r.PublicAddr+"/v/items?n=50"); res.StatusCode != 200 {
		t.Fatalf("n=50 after the referenced file changed: %d", res.StatusCode)
	}
	writeConfig(t, spec, "openapi: 3.1.0\npaths: [broken\n")
	waitReload(t, r.reloaded, false)
	if res := r.get(t, "https://"+r.PublicAddr+"/v/items?n=500"); res.StatusCode != 400 {
		t.Fatalf("previous document stopped enforcing: %d", res.StatusCode)
	}
}

// PRX-12: errors the server used to answer itself carry a problem and the
// security headers: headers over max_header_bytes (431), a URI over
// max_uri_bytes (414, not 431), OPTIONS *. Past the server's own bound
// (max_header_bytes + max_uri_bytes + 16 KiB) Go still answers alone.
func TestPRX12ProblemsBeforeTheHandler(t *testing.T) {
	up := echoUpstream(t)
	r := start(t, up.URL, "")
	raw := func(req string) *http.Response {
		t.Helper()
		c, err := tls.Dial("tcp", r.PublicAddr, &tls.Config{RootCAs: r.roots, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, req)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for name, tc := range map[string]struct {
		req    string
		status int
	}{
		"headers over 4KiB":  {"GET /api/x HTTP/1.1\r\nHost: localhost\r\nX-Big: " + strings.Repeat("a", 6<<10) + "\r\n\r\n", 431},
		"URI over 8192":      {"GET /api/" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: localhost\r\n\r\n", 414},
		"OPTIONS *":          {"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n", 400},
		"many small headers": {"GET /api/x HTTP/1.1\r\nHost: localhost\r\n" + strings.Repeat("X-A: 0123456789\r\n", 300) + "\r\n", 431},
	} {
		res := raw(tc.req)
		res.Body.Close()
		if res.StatusCode != tc.status || res.Header.Get("Content-Type") != "application/problem+json" ||
			res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("%s: %d %v", name, res.StatusCode, res.Header)
		}
	}
}
