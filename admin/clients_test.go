package admin

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/store/sqlite"
)

func TestClientsAPI(t *testing.T) {
	_, m, adm, user := keysServer(t)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := Handler(Options{Registry: prometheus.NewRegistry(), Keys: m, Clients: st})
	rec, got := call(t, h, "POST", "/v1/clients", adm, `{"id":"reports","scopes":["orders:read"],"audiences":["orders-api"],"tenant":"acme"}`)
	secret, _ := got["client_secret"].(string)
	if rec.Code != 201 || !strings.HasPrefix(secret, "gthc_") || rec.Header().Get("Location") != "/v1/clients/reports" {
		t.Fatalf("create: %d %v", rec.Code, got)
	}
	if rec, _ := call(t, h, "POST", "/v1/clients", adm, `{"id":"reports","audiences":["a"]}`); rec.Code != 409 {
		t.Errorf("duplicate: %d", rec.Code)
	}
	if rec, _ := call(t, h, "POST", "/v1/clients", adm, `{"id":"noaud"}`); rec.Code != 400 {
		t.Errorf("no audience: %d", rec.Code)
	}
	if rec, _ := call(t, h, "POST", "/v1/clients", user, `{"id":"x","audiences":["a"]}`); rec.Code != 403 {
		t.Errorf("user key: %d", rec.Code)
	}
	rec, got = call(t, h, "GET", "/v1/clients/reports", adm, "")
	if rec.Code != 200 || got["client_secret"] != nil || got["tenant"] != "acme" || strings.Contains(rec.Body.String(), "hash") {
		t.Fatalf("get: %d %v", rec.Code, got)
	}
	rec, got = call(t, h, "POST", "/v1/clients/reports/rotate-secret", adm, "")
	if s2, _ := got["client_secret"].(string); rec.Code != 200 || s2 == "" || s2 == secret {
		t.Fatalf("rotate: %d %v", rec.Code, got)
	}
	if rec, got := call(t, h, "POST", "/v1/clients/reports/disable", adm, ""); rec.Code != 200 || got["disabled"] != true {
		t.Fatalf("disable: %d %v", rec.Code, got)
	}
	if rec, got := call(t, h, "GET", "/v1/clients", adm, ""); rec.Code != 200 || len(got["clients"].([]any)) != 1 {
		t.Fatalf("list: %d %v", rec.Code, got)
	}
	if rec, _ := call(t, h, "DELETE", "/v1/clients/reports", adm, ""); rec.Code != 204 {
		t.Fatalf("delete: %d", rec.Code)
	}
	if rec, _ := call(t, h, "GET", "/v1/clients/reports", adm, ""); rec.Code != 404 {
		t.Fatalf("after delete: %d", rec.Code)
	}
}
