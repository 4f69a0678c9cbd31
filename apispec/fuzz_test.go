package apispec

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

var fuzzSpec *Spec

func fuzzLoad(f *testing.F) *Spec {
	if fuzzSpec == nil {
		fuzzSpec = load(f, versions[1], Options{Strict: true, RejectUnknownFields: true})
	}
	return fuzzSpec
}

// checkOutcome fails on anything but a pass or a client error the stage
// is allowed to give.
func checkOutcome(t *testing.T, f *Failure) {
	if f == nil {
		return
	}
	switch f.Status {
	case 400, 404, 405, 413, 415:
	default:
		t.Fatalf("status %d", f.Status)
	}
	if len(f.Violations) == 0 || len(f.Violations) > maxViolations {
		t.Fatalf("%d violations", len(f.Violations))
	}
	for _, v := range f.Violations {
		if v.Reason == "" || v.Location == "" {
			t.Fatalf("incomplete violation %+v", v)
		}
	}
}

func FuzzRequestBody(f *testing.F) {
	s := fuzzLoad(f)
	for _, seed := range []string{good, `{"item":"x","quantity":1,"quantity":2}`, `[`, `{"a":` + strings.Repeat("[", 50), `1e999`, "\xff", `{"item":"x","quantity":-0}`, ""} {
		f.Add([]byte(seed), uint8(0))
	}
	f.Add([]byte("item=a&quantity=2"), uint8(1))
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"item\"\r\n\r\nx\r\n--b--\r\n"), uint8(2))
	cts := []string{"application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "text/plain", "", "application/merge-patch+json"}
	f.Fuzz(func(t *testing.T, body []byte, ct uint8) {
		r := httptest.NewRequest("POST", "/orders", strings.NewReader(string(body)))
		r.Header.Set("X-Tenant", "acme")
		if c := cts[int(ct)%len(cts)]; c != "" {
			r.Header.Set("Content-Type", c)
		}
		w := httptest.NewRecorder()
		r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
		checkOutcome(t, s.CheckRequest(r))
	})
}

func FuzzRequestParams(f *testing.F) {
	s := fuzzLoad(f)
	f.Add("GET", "/orders", "limit=5&status=open", "acme", "session=0b6f6c5e-4d3a-4c8e-9a5b-2f1e0d9c8b7a")
	f.Add("GET", "/orders/o-1", "", "x", "")
	f.Add("DELETE", "/orders/%2e%2e", "a[b]=c&a[b]=d", "", "session=")
	f.Fuzz(func(t *testing.T, method, path, query, tenant, cookie string) {
		if !validMethod(method) {
			method = "GET"
		}
		u := &url.URL{Path: "/" + strings.TrimLeft(path, "/"), RawQuery: query}
		r, err := http.NewRequest(method, "http://api.test"+u.RequestURI(), http.NoBody)
		if err != nil {
			return
		}
		r.Header.Set("X-Tenant", tenant)
		r.Header.Set("Cookie", cookie)
		checkOutcome(t, s.CheckRequest(r))
	})
}

func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}
