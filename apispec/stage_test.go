package apispec

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/problem"
)

type seen struct {
	failures  []*Failure
	responses []bool
	enforced  []bool
}

func (s *seen) record(_ *http.Request, f *Failure, response, enforced bool) {
	s.failures = append(s.failures, f)
	s.responses = append(s.responses, response)
	s.enforced = append(s.enforced, enforced)
}

// echo is an upstream that answers with what it was sent.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write(b)
})

func TestRequestStageModes(t *testing.T) {
	s := load(t, versions[1], Options{RejectUnknownFields: true})
	bad := `{"item":"x","quantity":1,"role":"admin"}`
	for _, tc := range []struct {
		mode     Mode
		wantCode int
	}{{Enforce, 400}, {Report, 201}} {
		var got seen
		h := NewStage(s, StageOptions{Mode: tc.mode, StripPrefix: "/api", OnViolation: got.record}).Wrap(echo)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req("POST", "/api/orders", "application/json", bad))
		if w.Code != tc.wantCode {
			t.Fatalf("%v: %d %s", tc.mode, w.Code, w.Body)
		}
		if tc.mode == Report && w.Body.String() != bad {
			t.Fatalf("report mode: upstream got %q", w.Body)
		}
		if len(got.failures) != 1 || got.responses[0] || got.enforced[0] != (tc.mode == Enforce) || got.failures[0].Violations[0].Pointer != "/role" {
			t.Fatalf("%v: recorded %+v %v %v", tc.mode, got.failures, got.responses, got.enforced)
		}
		// A valid request reaches the upstream with its body.
		w = httptest.NewRecorder()
		h.ServeHTTP(w, req("POST", "/api/orders", "application/json", good))
		if w.Code != 201 || w.Body.String() != good {
			t.Fatalf("%v valid: %d %q", tc.mode, w.Code, w.Body)
		}
	}
}

// A body over the limit cannot be passed on, so it is refused even when
// violations are only reported.
func TestRequestStageBodyLimit(t *testing.T) {
	s := load(t, versions[1], Options{})
	h := NewStage(s, StageOptions{Mode: Report}).Wrap(echo)
	limit := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, 64)
			next.ServeHTTP(w, r)
		})
	}
	w := httptest.NewRecorder()
	limit(h).ServeHTTP(w, req("POST", "/orders", "application/json", `{"item":"`+strings.Repeat("x", 100)+`","quantity":1}`))
	if w.Code != 413 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func upstream(status int, ct, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ae := r.Header.Get("Accept-Encoding"); ae != "" {
			w.Header().Set("Content-Encoding", "gzip") // would compress: the stage must have removed the header
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("X-Upstream", "1")
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

func TestResponseStage(t *testing.T) {
	const leak = `{"item":"x","quantity":1,"secret_note":"the customer's card is 4111"}`
	cases := []struct {
		name     string
		up       http.Handler
		unknown  bool
		wantFail bool
		reason   string
	}{
		{"valid", upstream(200, "application/json", `{"item":"x","quantity":1}`), false, false, ""},
		{"writeOnly property", upstream(200, "application/json", leak), false, true, "writeOnly"},
		{"undeclared property", upstream(200, "application/json", `{"item":"x","quantity":1,"ssn":"123"}`), true, true, "not declared"},
		{"wrong type", upstream(200, "application/json", `{"item":"x","quantity":"1"}`), false, true, "wrong type"},
		{"undeclared status", upstream(500, "application/json", `{"trace":"at db.go:12"}`), false, true, "status code"},
		{"undeclared content type", upstream(200, "text/html", `<html>`), false, true, "content type"},
		{"malformed content type parameter", upstream(200, "application/json;a", leak), false, true, "not a valid media type"},
		{"declared status without body", upstream(404, "text/plain", ``), false, false, ""},
		{"gateway problem", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			problem.Write(w, r, problem.New(502, problem.TypeBadGateway, "upstream down"))
		}), false, false, ""},
	}
	for _, c := range cases {
		for _, mode := range []Mode{Enforce, Report} {
			t.Run(c.name+"/"+mode.String(), func(t *testing.T) {
				s := load(t, versions[1], Options{RejectUnknownFields: c.unknown})
				var got seen
				h := NewResponseStage(s, StageOptions{Mode: mode, OnViolation: got.record}).Wrap(c.up)
				r := req("GET", "/orders/o-1", "", "")
				r.Header.Set("Accept-Encoding", "gzip")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if failed := len(got.failures) > 0; failed != c.wantFail {
					t.Fatalf("failed=%v %+v", failed, got.failures)
				}
				if c.wantFail {
					if !got.responses[0] || got.enforced[0] != (mode == Enforce) {
						t.Fatalf("recorded response=%v enforced=%v", got.responses[0], got.enforced[0])
					}
					found := false
					for _, v := range got.failures[0].Violations {
						found = found || v.Location == "response" && strings.Contains(v.Reason, c.reason)
					}
					if !found {
						t.Fatalf("no %q in %+v", c.reason, got.failures[0].Violations)
					}
				}
				if mode == Enforce && c.wantFail {
					if w.Code != 502 || strings.Contains(w.Body.String(), "4111") || strings.Contains(w.Body.String(), "ssn") || w.Header().Get("X-Upstream") != "" {
						t.Fatalf("enforced: %d %v %s", w.Code, w.Header(), w.Body)
					}
					return
				}
				if w.Code == 502 && c.name != "gateway problem" {
					t.Fatalf("passed on as %d", w.Code)
				}
				if c.name != "gateway problem" && w.Header().Get("X-Upstream") != "1" {
					t.Fatalf("upstream headers lost: %v", w.Header())
				}
			})
		}
	}
}

// VAL-05: a bare Upgrade header does not switch response validation off;
// only a 101 answer passes unchecked.
func TestVAL05UpgradeHeaderDoesNotSkip(t *testing.T) {
	s := load(t, versions[1], Options{})
	leak := upstream(200, "application/json", `{"item":"x","quantity":1,"secret_note":"4111"}`)
	for _, hdr := range [][2]string{{"Upgrade", "websocket"}, {"Connection", "upgrade"}} {
		var got seen
		h := NewResponseStage(s, StageOptions{Mode: Enforce, OnViolation: got.record}).Wrap(leak)
		r := req("GET", "/orders/o-1", "", "")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set(hdr[0], hdr[1])
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 502 || strings.Contains(w.Body.String(), "4111") {
			t.Errorf("%v: %d %s", hdr, w.Code, w.Body)
		}
	}
	h := NewResponseStage(s, StageOptions{Mode: Enforce}).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusSwitchingProtocols)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req("GET", "/orders/o-1", "", ""))
	if w.Code != 101 {
		t.Errorf("a real upgrade: %d", w.Code)
	}
}

func TestResponseStageLimit(t *testing.T) {
	s := load(t, versions[1], Options{})
	big := `{"item":"` + strings.Repeat("x", 200) + `","quantity":1}`
	for _, mode := range []Mode{Enforce, Report} {
		var got seen
		h := NewResponseStage(s, StageOptions{Mode: mode, MaxResponseBytes: 100, OnViolation: got.record}).Wrap(upstream(200, "application/json", big))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req("GET", "/orders/o-1", "", ""))
		if mode == Enforce && (w.Code != 502 || len(got.failures) != 1) {
			t.Fatalf("enforce over limit: %d %d", w.Code, len(got.failures))
		}
		if mode == Report && (w.Code != 200 || w.Body.String() != big || len(got.failures) != 0) {
			t.Fatalf("report over limit: %d %d", w.Code, len(got.failures))
		}
	}
}
