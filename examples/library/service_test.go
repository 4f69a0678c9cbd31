package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/store/sqlite"
)

// The service, built only from Gatehouse's packages, enforces every stage
// it lists: authentication, object-level authorization, validation, rate
// limits, and the edge's ids, headers and path hygiene.
func TestLibraryService(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keys.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := apikey.NewManager(apikey.Options{Store: db, ServerSecret: bytes.Repeat([]byte("s"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	newKey := func(owner, tenant string, scopes ...string) string {
		k, _, err := keys.Create(ctx, apikey.CreateOptions{Name: owner, Owner: owner, Tenant: tenant, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	alice, bob, reader, burst := newKey("alice", "acme", "orders:write"), newKey("bob", "globex", "orders:write"), newKey("rita", "acme"), newKey("bo", "acme")
	var log bytes.Buffer
	h, err := newService(Options{Keys: keys, OpenAPI: "openapi.yaml", AccessLog: &log, PerKey: 20})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	do := func(method, path, key, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(res.Body)
		return res, b.String()
	}
	order := `{"item":"widget","quantity":2}`
	for _, tc := range []struct {
		name, method, path, key, body string
		status                        int
		problem                       string // the problem type's last segment, for refusals
	}{
		{"no key", "GET", "/tenants/acme/orders/1", "", "", 401, "unauthorized"},
		{"bad key", "GET", "/tenants/acme/orders/1", "gh_live_notakey", "", 401, "unauthorized"},
		{"own tenant", "GET", "/tenants/acme/orders/1", alice, "", 200, ""},
		{"other tenant (API1)", "GET", "/tenants/acme/orders/1", bob, "", 403, "forbidden"},
		{"create", "POST", "/tenants/acme/orders", alice, order, 201, ""},
		{"create without write scope", "POST", "/tenants/acme/orders", reader, order, 403, "forbidden"},
		{"create in another tenant", "POST", "/tenants/globex/orders", alice, order, 403, "forbidden"},
		{"unknown field (mass assignment)", "POST", "/tenants/acme/orders", alice, `{"item":"w","quantity":1,"price":0}`, 400, "invalid-request"},
		{"quantity out of range", "POST", "/tenants/acme/orders", alice, `{"item":"w","quantity":1000}`, 400, "invalid-request"},
		{"id not in the document's form", "GET", "/tenants/acme/orders/x1", alice, "", 400, "invalid-request"},
		{"encoded slash", "GET", "/tenants/acme%2Forders/1", alice, "", 400, "bad-path"},
		{"TRACE", "TRACE", "/tenants/acme/orders/1", alice, "", 405, "method-not-allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := do(tc.method, tc.path, tc.key, tc.body)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			if res.Header.Get("X-Request-Id") == "" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("edge headers missing: %v", res.Header)
			}
			if tc.problem != "" {
				var p struct {
					Type      string `json:"type"`
					RequestID string `json:"request_id"`
				}
				if res.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal([]byte(body), &p) != nil ||
					!strings.HasSuffix(p.Type, "/"+tc.problem) || p.RequestID != res.Header.Get("X-Request-Id") {
					t.Errorf("refusal is not the %s problem with the request id: %s %s", tc.problem, res.Header.Get("Content-Type"), body)
				}
			}
		})
	}

	t.Run("rate limit per key", func(t *testing.T) {
		var codes []int
		for range 21 {
			res, _ := do("GET", "/tenants/acme/orders/1", burst, "")
			codes = append(codes, res.StatusCode)
			if res.StatusCode == 429 && res.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
		want := append(slices.Repeat([]int{200}, 20), 429)
		if !slices.Equal(codes, want) {
			t.Errorf("codes %v, want %v", codes, want)
		}
	})

	t.Run("access log", func(t *testing.T) {
		lines := strings.Split(strings.TrimSpace(log.String()), "\n")
		if len(lines) < 10 {
			t.Fatalf("%d access-log lines", len(lines))
		}
		if strings.Contains(log.String(), alice) || strings.Contains(log.String(), "gh_live") {
			t.Error("the access log holds a key")
		}
		var first struct {
			Status int    `json:"status"`
			Authz  string `json:"authz"`
			KeyID  string `json:"key_id"`
		}
		for _, l := range lines {
			if strings.Contains(l, `"authz":"deny"`) {
				if err := json.Unmarshal([]byte(l), &first); err != nil || first.Status != 403 || first.KeyID == "" {
					t.Errorf("denial line: %s", l)
				}
				return
			}
		}
		t.Error("no line records a denial")
	})
}
