package demo

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
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
	if len(cfg.Routes) != 8 || cfg.HTTP == nil || len(cfg.Policies) != 1 {
		t.Errorf("demo config: %d routes, http %v", len(cfg.Routes), cfg.HTTP)
	}
}
