package secaudit_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/secaudit"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
)

// gatewayConfig is a whole gateway in front of the demo orders API that
// authorizes its object routes (the demo's policies: a tenant sees only
// its own orders, owners update, admins delete).
const gatewayConfig = `
data_dir: %[1]q
listen:
  address: %[2]q
  tls: {profile: intermediate}
admin: {address: "127.0.0.1:0"}
log: {level: error}
api_keys:
  secret: "${file:%[3]s}"
policies: [%[4]q]
oauth:
  issuer: "https://%[2]s"
  signing_key_secret: "${file:%[5]s}"
routes:
  - name: orders-list
    match: {methods: [GET], path: /api/orders}
    upstream: {url: %[6]q, strip_prefix: /api}
    auth:
      api_key: {scopes: [orders:read]}
      jwt: {audience: orders-api, scopes: [orders:read]}
  - name: tenant-order-read
    match: {methods: [GET], path: "/api/tenants/{tenant}/orders/{id}"}
    upstream: {url: %[6]q, strip_prefix: /api}
    auth: {api_key: {}}
    authorize: {action: orders.read, resource: {type: Order, id: "{id}"}}
  - name: tenant-order-update
    match: {methods: [PATCH, DELETE], path: "/api/tenants/{tenant}/orders/{id}"}
    max_body_bytes: 16KiB
    upstream: {url: %[6]q, strip_prefix: /api}
    auth: {api_key: {}}
    authorize:
      action: orders.update
      resource: {type: Order, id: "{id}", fetch: {url: "%[6]s/orders/{id}", attrs: [owner, tenant]}}
%[7]s`

// bolaHole is the demo's known hole: an object route that authenticates
// without authorizing.
const bolaHole = `
  - name: orders-item
    match: {methods: [GET], path: "/api/orders/{id}"}
    upstream: {url: %q, strip_prefix: /api}
    auth: {api_key: {}}
`

type realGateway struct {
	addr  string
	roots *x509.CertPool
	keys  demo.Keys
	token string
}

// startGateway runs a real gateway process in this process: its TLS
// listener, limits, API keys, OAuth server and policies.
func startGateway(t *testing.T, hole bool) *realGateway { return startConfig(t, hole, false) }

// startConfig starts the gateway of gatewayConfig (with the hole when
// asked), or, with useDemo, of the config gatehouse demo writes.
func startConfig(t *testing.T, hole, useDemo bool) *realGateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	up := httptest.NewServer(demo.NewOrders(nil).Handler())
	t.Cleanup(up.Close)
	// The OAuth issuer is the gateway's own origin, so it needs its port
	// before it starts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	secret, oauthSecret, policies := filepath.Join(dir, "secret"), filepath.Join(dir, "oauth-secret"), filepath.Join(dir, "demo.cedar")
	for _, f := range []string{secret, oauthSecret} {
		if err := demo.EnsureSecret(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(policies, []byte(demo.Policies), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := ""
	if hole {
		extra = fmt.Sprintf(bolaHole, up.URL)
	}
	path := filepath.Join(dir, "gatehouse.yaml")
	src := fmt.Sprintf(gatewayConfig, dir, addr, secret, policies, oauthSecret, up.URL, extra)
	if useDemo {
		spec := filepath.Join(dir, "orders.openapi.yaml")
		if err := os.WriteFile(spec, []byte(demo.OpenAPI), 0o600); err != nil {
			t.Fatal(err)
		}
		schema := filepath.Join(dir, "demo.cedarschema")
		if err := os.WriteFile(schema, []byte(demo.PolicySchema), 0o600); err != nil {
			t.Fatal(err)
		}
		src = demo.Config(demo.Settings{SchemaFile: schema, Listen: addr, AdminListen: "127.0.0.1:0", DataDir: dir, Upstream: up.URL,
			SecretFile: secret, PolicyFile: policies, SpecFile: spec, OAuthSecretFile: oauthSecret})
	}
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := gatehouse.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(ctx, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	m, err := apikey.NewManager(apikey.Options{Store: st, ServerSecret: []byte(cfg.APIKeys.Secret.Value())})
	if err != nil {
		t.Fatal(err)
	}
	g := &realGateway{addr: addr}
	if g.keys, err = demo.EnsureKeys(ctx, m, filepath.Join(dir, "keys.json")); err != nil {
		t.Fatal(err)
	}
	client, err := demo.EnsureClient(ctx, st, filepath.Join(dir, "client.json"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	ready, done := make(chan server.Ready, 1), make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Options{Config: cfg, ConfigPath: path, LogOutput: io.Discard, OnReady: func(r server.Ready) { ready <- r }})
	}()
	var rd server.Ready
	select {
	case rd = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the gateway did not start")
	}
	t.Cleanup(func() {
		cancel()
		<-done
	})
	pem, err := os.ReadFile(rd.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	g.roots = x509.NewCertPool()
	g.roots.AppendCertsFromPEM(pem)

	// A real access token from the gateway's own token endpoint.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: g.roots}}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client.ID, client.Secret)
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token endpoint: %d %v", res.StatusCode, err)
	}
	g.token = tok.AccessToken
	return g
}

// The real gateway, correctly configured, passes the whole probe: no
// finding at high or above, and every probe ran.
func TestLiveAgainstTheGateway(t *testing.T) {
	g := startGateway(t, false)
	fs, err := secaudit.Live(context.Background(), secaudit.LiveOptions{
		URL: "https://" + g.addr, RootCAs: g.roots,
		APIKey: g.keys.Alice, OtherKey: g.keys.Carol, Token: g.token,
		Objects: []string{"/api/tenants/acme/orders/1"}, AuthPath: "/api/orders", Destructive: true,
		Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		t.Logf("%s %s %s: %s (%s)", f.Severity, f.ID, f.Title, f.Message, f.Location.URL)
		if f.Severity >= finding.High {
			t.Errorf("high finding on the real gateway: %s %s", f.ID, f.Message)
		}
		if f.ID == "GH-LIVE-24" || f.ID == "GH-LIVE-25" {
			t.Errorf("a probe did not run: %s", f.Message)
		}
	}
}

// The same gateway with the demo's hole (an object route that
// authenticates without authorizing): the probe finds the other tenant
// reading the order.
func TestLiveFindsBOLAOnTheGateway(t *testing.T) {
	g := startGateway(t, true)
	fs, err := secaudit.Live(context.Background(), secaudit.LiveOptions{
		URL: "https://" + g.addr, RootCAs: g.roots, APIKey: g.keys.Alice, OtherKey: g.keys.Carol,
		Objects: []string{"/api/orders/1"}, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	bola := 0
	for _, f := range fs {
		if f.ID == "GH-LIVE-22" && f.Severity == finding.Critical && f.Location.URL == "https://"+g.addr+"/api/orders/1" {
			bola++
		}
	}
	if bola != 2 { // GET and HEAD
		t.Errorf("%d GH-LIVE-22 findings, want 2: %+v", bola, fs)
	}
}

// The demo, as gatehouse demo configures it, passes the probe with two
// tenants' keys: alice (acme) reaches acme's order 1 by both of its
// routes, carol (globex) reaches it by neither, and nothing is high.
func TestLiveAgainstTheDemo(t *testing.T) {
	g := startConfig(t, false, true)
	fs, err := secaudit.Live(context.Background(), secaudit.LiveOptions{
		URL: "https://" + g.addr, RootCAs: g.roots,
		APIKey: g.keys.Alice, OtherKey: g.keys.Carol, Token: g.token,
		Objects: []string{"/api/orders/1", "/api/tenants/acme/orders/1"}, AuthPath: "/api/tenants/acme/orders", Destructive: true,
		Timeout: 5 * time.Second, MaxWait: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		t.Logf("%s %s %s: %s (%s)", f.Severity, f.ID, f.Title, f.Message, f.Location.URL)
		if f.Severity >= finding.High {
			t.Errorf("high finding on the demo: %s %s", f.ID, f.Message)
		}
		if f.ID == "GH-LIVE-22" || f.ID == "GH-LIVE-23" {
			t.Errorf("cross-tenant access on the demo: %s", f.Message)
		}
	}
}
