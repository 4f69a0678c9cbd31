package demo

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/secaudit"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
)

func TestOrdersAPI(t *testing.T) {
	srv := httptest.NewServer(NewOrders(func() time.Time { return time.Unix(0, 0) }).Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/orders?tenant=acme")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Orders []Order }
	json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if len(list.Orders) != 2 || list.Orders[0].Tenant != "acme" {
		t.Fatalf("acme orders: %+v", list.Orders)
	}
	res, _ = http.Post(srv.URL+"/orders", "application/json", strings.NewReader(`{"tenant":"acme","owner":"alice","item":"x","quantity":2}`))
	if res.StatusCode != 201 || res.Header.Get("Location") != "/orders/4" {
		t.Fatalf("create: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = http.Post(srv.URL+"/orders", "application/json", strings.NewReader(`{"tenant":"acme","owner":"a","item":"x","quantity":2,"admin":true}`))
	if res.StatusCode != 400 {
		t.Errorf("unknown field accepted: %d", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/orders/4", nil)
	res, _ = http.DefaultClient.Do(req)
	if res.StatusCode != 204 {
		t.Errorf("delete: %d", res.StatusCode)
	}
	res, _ = http.Get(srv.URL + "/orders/4")
	if res.StatusCode != 404 {
		t.Errorf("deleted order still there: %d", res.StatusCode)
	}
}

func TestDemoConfigIsValid(t *testing.T) {
	dir := t.TempDir()
	secret := dir + "/secret"
	if err := EnsureSecret(secret); err != nil {
		t.Fatal(err)
	}
	pol := dir + "/demo.cedar"
	if err := os.WriteFile(pol, []byte(Policies), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := dir + "/orders.openapi.yaml"
	if err := os.WriteFile(spec, []byte(OpenAPI), 0o600); err != nil {
		t.Fatal(err)
	}
	src := Config(Settings{Listen: "127.0.0.1:8443", HTTPListen: "127.0.0.1:8080", AdminListen: "127.0.0.1:9443", DataDir: dir, Upstream: "http://127.0.0.1:1", SecretFile: secret, PolicyFile: pol, SpecFile: spec, OAuthSecretFile: secret})
	cfg, err := gatehouse.Parse("demo.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gatehouse.New(cfg, gatehouse.Deps{AccessLog: io.Discard}); err == nil {
		t.Error("the demo routes need the key manager")
	}
	if len(cfg.Routes) != 10 || cfg.HTTP == nil || len(cfg.Policies) != 1 {
		t.Errorf("demo config: %d routes, http %v", len(cfg.Routes), cfg.HTTP)
	}
}

// The demo passes its own audit: gatehouse audit config reports no
// critical or high finding on the config the demo writes. A route that
// authenticates without authorizing (the demo's own past mistake) fails it.
func TestDemoPassesItsOwnAudit(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700) // as gatehouse demo makes it
	secret := dir + "/secret"
	if err := EnsureSecret(secret); err != nil {
		t.Fatal(err)
	}
	pol, spec := dir+"/demo.cedar", dir+"/orders.openapi.yaml"
	os.WriteFile(pol, []byte(Policies), 0o600)
	os.WriteFile(spec, []byte(OpenAPI), 0o600)
	os.WriteFile(dir+"/demo.cedarschema", []byte(PolicySchema), 0o600)
	src := Config(Settings{SchemaFile: dir + "/demo.cedarschema", Listen: "127.0.0.1:8443", HTTPListen: "127.0.0.1:8080", AdminListen: "127.0.0.1:9443", DataDir: dir, Upstream: "http://127.0.0.1:1", SecretFile: secret, PolicyFile: pol, SpecFile: spec, OAuthSecretFile: secret})
	audit := func(src string) []finding.Finding {
		file := dir + "/demo.yaml"
		os.WriteFile(file, []byte(src), 0o600)
		cfg, err := gatehouse.LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return secaudit.Config(context.Background(), secaudit.ConfigInput{Config: cfg})
	}
	fs := audit(src)
	for _, f := range fs {
		if f.Severity >= finding.High {
			t.Errorf("%s %s at %s: %s", f.Severity, f.ID, f.Location, f.Message)
		}
	}
	t.Logf("demo audit: %s", finding.Summary(fs))
	// The old hole: the item route authenticating without authorize.
	block := regexp.MustCompile(`    authorize:\n      action: orders.read\n      resource: \{type: Order, id: "\{id\}", fetch: [^\n]*\n`)
	loc := block.FindStringIndex(src)
	if loc == nil {
		t.Fatal("the order-read route changed: update the test")
	}
	weakened := src[:loc[0]] + src[loc[1]:]
	if !slices.ContainsFunc(audit(weakened), func(f finding.Finding) bool { return f.ID == "GH-AZ-1" && f.Severity == finding.Critical }) {
		t.Error("the audit does not find the order route that authenticates without authorizing")
	}
}
