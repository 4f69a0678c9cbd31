package admin

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/revocation"
	"github.com/gatehouse-dev/gatehouse/store/sqlite"
)

func TestTokensAPI(t *testing.T) {
	_, m, adm, user := keysServer(t)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "rev.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := revocation.New(st, nil)
	h := Handler(Options{Registry: prometheus.NewRegistry(), Keys: m, Revocations: l})
	const iss = "https://idp.example/"
	rec, got := call(t, h, "POST", "/v1/tokens/revoke", adm, `{"issuer":"`+iss+`","jti":"leaked-1","reason":"posted in a ticket"}`)
	if rec.Code != 201 || got["jti"] != "leaked-1" || got["actor"] == "" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("revoke: %d %v", rec.Code, got)
	}
	if !l.Revoked(iss, "leaked-1", "") {
		t.Fatal("not applied")
	}
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if rec, _ := call(t, h, "POST", "/v1/tokens/revoke", adm, `{"issuer":"`+iss+`","subject":"mallory","until":"`+until+`"}`); rec.Code != 201 || !l.Revoked(iss, "any", "mallory") {
		t.Fatalf("revoke subject: %d", rec.Code)
	}
	for _, bad := range []string{
		`{"jti":"x"}`, `{"issuer":"i"}`, `{"issuer":"i","jti":"x","subject":"y"}`,
		`{"issuer":"i","jti":"x","until":"2001-01-01T00:00:00Z"}`, `{"issuer":"i","jti":"x","extra":1}`,
	} {
		if rec, _ := call(t, h, "POST", "/v1/tokens/revoke", adm, bad); rec.Code != 400 {
			t.Errorf("%s: %d", bad, rec.Code)
		}
	}
	if rec, _ := call(t, h, "POST", "/v1/tokens/revoke", user, `{"issuer":"i","jti":"x"}`); rec.Code != 403 {
		t.Errorf("user key: %d", rec.Code)
	}
	if rec, _ := call(t, h, "POST", "/v1/tokens/revoke", "", `{"issuer":"i","jti":"x"}`); rec.Code != 401 {
		t.Errorf("no key: %d", rec.Code)
	}
	rec, got = call(t, h, "GET", "/v1/tokens/revoked", adm, "")
	if list, _ := got["revoked"].([]any); rec.Code != 200 || len(list) != 2 {
		t.Fatalf("list: %d %v", rec.Code, got)
	}
}
