package edge

import (
	"bytes"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/clientip"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/record"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The access-log line of each kind of request, byte for byte: what is
// recorded (route, principal, decision, upstream, problem and its cause)
// and what never is (header values, query values, credentials: LOG-02).
func TestAccessLogGolden(t *testing.T) {
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	clock := []time.Time{start, start.Add(1500 * time.Microsecond)}
	cases := []struct {
		name   string
		target string
		h      http.HandlerFunc
	}{
		{"plain", "/orders/1", func(w http.ResponseWriter, r *http.Request) {
			rec := record.From(r.Context())
			rec.SetRoute("orders")
			rec.SetUpstream("10.0.0.5:8080")
			_, _ = w.Write([]byte("hello"))
		}},
		{"authenticated-denied", "/tenants/acme/orders/1?token=secret&page=2", func(w http.ResponseWriter, r *http.Request) {
			rec := record.From(r.Context())
			rec.SetRoute("tenant-orders")
			rec.SetPrincipal(&identity.Principal{Kind: identity.KindAPIKey, Subject: "carol", Tenant: "globex", KeyID: "k_123"})
			rec.SetDecision(record.Decision{Allowed: false, Policies: []string{"tenant-isolation"}})
			problem.Write(w, r, problem.New(http.StatusForbidden, problem.TypeForbidden, "the request is not allowed").Wrap(errors.New("no permit")))
		}},
		{"unmatched", "/nope", func(w http.ResponseWriter, r *http.Request) {
			problem.Write(w, r, problem.New(http.StatusNotFound, problem.TypeNotFound, "no route matches this request"))
		}},
	}
	var got bytes.Buffer
	for _, tc := range cases {
		i := 0
		now := func() time.Time { t := clock[i%2]; i++; return t }
		h := Chain(tc.h,
			RequestID{Resolver: clientip.New([]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}), Now: now}.Wrap,
			AccessLog{Out: &got, Enabled: true, Now: now}.Wrap)
		r := httptest.NewRequest("GET", tc.target, nil)
		r.RemoteAddr = "192.0.2.1:1234"
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		r.Header.Set("X-Request-Id", "req-"+tc.name)
		r.Header.Set("Authorization", "Bearer gh_live_secretvalue")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	path := filepath.Join("testdata", "accesslog.golden")
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("access log differs from %s (go test ./edge -update):\n got: %s\nwant: %s", path, got.Bytes(), want)
	}
	for _, secret := range []string{"secret", "gh_live"} {
		if bytes.Contains(got.Bytes(), []byte(secret)) {
			t.Errorf("the access log holds %q", secret)
		}
	}
}
