package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/proxy"
)

// recorder is a back end that keeps the last request it was sent.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	last *http.Request
	hits int
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.last, rec.hits = r.Clone(context.Background()), rec.hits+1
		rec.mu.Unlock()
		fmt.Fprintf(w, "upstream %s %s", r.Method, r.URL.RequestURI())
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) snapshot() (*http.Request, int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.last, rec.hits
}

// startNginx runs Debian's nginx with examples/forward-auth/nginx.conf in
// a server block of its own config under a temp dir.
func startNginx(t *testing.T, vars map[string]string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		t.Skip("nginx not installed (apt-get install nginx; .ci/run installs it)")
	}
	snippet, err := os.ReadFile("../../examples/forward-auth/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	s := string(snippet)
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	if strings.Contains(s, "{{") {
		t.Fatal("a placeholder of the nginx snippet is not filled")
	}
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n" // the temp dir is the test's own
	}
	conf := fmt.Sprintf(`%sworker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    server {
        listen %[3]s;
        server_name api.example;
%[4]s
    }
}
`, user, dir, addr, s)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the workers go with the master
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			logs, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output: %s\nerror.log:\n%s", out, logs)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %s %s", out, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawHTTP sends raw bytes and returns the whole response.
func rawHTTP(t *testing.T, addr, raw string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// PRX-08 against a real nginx in front, with the documented snippet:
// allow, deny, 401, 403, 429 and 404 as the client sees them, identity
// handed to the upstream, and each spoofing attempt of the review.
func TestPRX08NginxForwardAuth(t *testing.T) {
	up := newRecorder(t)
	t.Setenv("GH_TEST_KEY_SECRET", strings.Repeat("k", 32))
	pol := filepath.Join(t.TempDir(), "p.cedar")
	os.WriteFile(pol, []byte(`permit (principal, action, resource is Gatehouse::Route) when { principal has tenant && principal.tenant == resource.tenant };`), 0o600)
	r := start(t, up.URL, fmt.Sprintf(`
  - name: tenant-orders
    match: {methods: [GET, DELETE], path: "/shop/tenants/{tenant}/orders/{id}"}
    auth: {api_key: {}}
    authorize: {}
    upstream: {url: %[1]q}
  - name: public
    match: {methods: [GET], path: "/shop/public/"}
    upstream: {url: %[1]q}
  - name: limited
    match: {path: /shop/limited}
    rate_limit: {policies: [{name: one, limit: 1, window: 1m}]}
    upstream: {url: %[1]q}
api_keys: {secret: "${env:GH_TEST_KEY_SECRET}"}
policies: [%[2]q]
forward_auth: {proxy: nginx}
`, up.URL, pol))
	st, err := OpenStore(context.Background(), r.Gateway.Config(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, _ := apikey.NewManager(apikey.Options{Store: st, ServerSecret: []byte(strings.Repeat("k", 32))})
	alice, _, _ := m.Create(context.Background(), apikey.CreateOptions{Owner: "alice", Tenant: "acme"})
	carol, _, _ := m.Create(context.Background(), apikey.CreateOptions{Owner: "carol", Tenant: "globex"})

	ngx := startNginx(t, map[string]string{"GATEHOUSE_ADMIN": r.AdminAddr, "GATEHOUSE_CA": r.CAFile,
		"GATEHOUSE_ADMIN_NAME": "localhost", "UPSTREAM": strings.TrimPrefix(up.URL, "http://")})
	client := &http.Client{Timeout: 10 * time.Second}
	call := func(method, path string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+ngx+path, nil)
		req.Host = "api.example"
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header[hdr[i]] = []string{hdr[i+1]}
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(b)
	}
	expect := func(name string, res *http.Response, body string, status int, hitsBefore int, proxied bool) {
		t.Helper()
		_, hits := up.snapshot()
		if res.StatusCode != status {
			t.Errorf("%s: status %d, want %d: %s", name, res.StatusCode, status, body)
		}
		if got := hits > hitsBefore; got != proxied {
			t.Errorf("%s: proxied=%v, want %v", name, got, proxied)
		}
		if status >= 400 && !strings.Contains(res.Header.Get("Content-Type"), "problem+json") {
			t.Errorf("%s: refusal content type %q", name, res.Header.Get("Content-Type"))
		}
	}
	hits := func() int { _, n := up.snapshot(); return n }

	h := hits()
	res, body := call("GET", "/shop/tenants/acme/orders/1", "X-Api-Key", alice)
	expect("allow", res, body, 200, h, true)
	last, _ := up.snapshot()
	if last.Header.Get("X-Gatehouse-Subject") != "alice" || last.Header.Get("X-Gatehouse-Tenant") != "acme" || last.Header.Get("X-Api-Key") != "" {
		t.Errorf("upstream headers: %v", last.Header)
	}
	h = hits()
	res, body = call("GET", "/shop/tenants/acme/orders/1", "X-Api-Key", carol)
	expect("other tenant", res, body, 403, h, false)
	h = hits()
	res, body = call("GET", "/shop/tenants/acme/orders/1")
	expect("no key", res, body, 401, h, false)
	if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: %v", res.Header)
	}
	h = hits()
	res, body = call("GET", "/shop/nowhere")
	expect("no route", res, body, 404, h, false)
	h = hits()
	res, body = call("GET", "/shop/limited")
	expect("limit, first", res, body, 200, h, true)
	h = hits()
	res, body = call("GET", "/shop/limited")
	expect("limit, second", res, body, 429, h, false)
	if res.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After: %v", res.Header)
	}

	// The review's exploit: an anonymous DELETE dressed as Traefik's GET of
	// a public page.
	h = hits()
	res, body = call("DELETE", "/shop/tenants/globex/orders/3", "X-Forwarded-Uri", "/shop/public/x", "X-Forwarded-Method", "GET")
	expect("spoofed X-Forwarded-Uri", res, body, 401, h, false)
	h = hits()
	res, body = call("DELETE", "/shop/tenants/globex/orders/3", "X-Original-Uri", "/shop/public/x", "X-Original-Method", "GET")
	expect("spoofed X-Original-URI", res, body, 401, h, false)
	// A raw '#' in the request line: decided on the path before it, the
	// one nginx serves.
	h = hits()
	raw := rawHTTP(t, ngx, "GET /shop/tenants/acme/orders/1#/../../../../shop/public/x HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n")
	expect("fragment", raw, "", 401, h, false)
	// Forged identity and overrides on a public route.
	h = hits()
	res, body = call("GET", "/shop/public/../public/./page", "X-Gatehouse-Subject", "admin", "X-Gatehouse-Roles", "gatehouse:admin",
		"X_Gatehouse_Tenant", "acme", "X-HTTP-Method-Override", "DELETE", "Remote-User", "root",
		"X-Auth-Request-Groups", "admins", "Forwarded", "for=1.2.3.4", "X-Original-Url", "/admin", "X-Forwarded-Client-Cert", "x")
	expect("forged identity", res, body, 200, h, true)
	last, _ = up.snapshot()
	for _, n := range []string{"X-Gatehouse-Subject", "X-Gatehouse-Roles", "X-Gatehouse-Tenant", "X-Http-Method-Override", "Remote-User", "X_gatehouse_tenant",
		"X-Auth-Request-Groups", "Forwarded", "X-Original-Url", "X-Forwarded-Client-Cert"} {
		if v := last.Header.Get(n); v != "" {
			t.Errorf("%s reached the upstream: %q", n, v)
		}
	}
	if last.URL.Path != "/shop/public/page" || last.Method != "GET" {
		t.Errorf("upstream got %s %s", last.Method, last.URL.RequestURI())
	}
}

// The nginx snippet clears, for the upstream, every header the gateway
// removes on its own listener (PRX-08, PRX-09): the lists cannot drift.
func TestPRX09NginxSnippetClearsTheLists(t *testing.T) {
	b, err := os.ReadFile("../../examples/forward-auth/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	main := strings.ToLower(string(b[strings.Index(string(b), "location / {"):]))
	for _, list := range [][]string{proxy.ForwardingHeaders, proxy.OriginalRequestHeaders, proxy.MethodOverrideHeaders, proxy.ForeignIdentityHeaders, proxy.IdentityHeaders} {
		for _, n := range list {
			if !strings.Contains(main, "proxy_set_header "+strings.ToLower(n)+" ") {
				t.Errorf("the snippet does not set or clear %s for the upstream", n)
			}
		}
	}
}
