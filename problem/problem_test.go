package problem

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

// PD-01: status equals the HTTP status, stable type, client-safe detail,
// request id; the internal cause is never serialised.
func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req = req.WithContext(WithRequestID(req.Context(), "req-123"))
	p := New(502, TypeBadGateway, "the upstream could not be reached").Wrap(errors.New("dial tcp 10.0.0.7:5432: connection refused"))
	p.Extra = map[string]any{"errors": []string{"x"}, "status": 999}
	Write(rec, req, p)
	if rec.Code != 502 || rec.Header().Get("Content-Type") != "application/problem+json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	if strings.Contains(rec.Body.String(), "10.0.0.7") || strings.Contains(rec.Body.String(), "refused") {
		t.Fatalf("internal cause leaked: %s", rec.Body.String())
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["status"] != float64(502) || m["type"] != TypeBadGateway || m["request_id"] != "req-123" || m["title"] != "Bad Gateway" || m["errors"] == nil {
		t.Errorf("body %v", m)
	}
	if !errors.Is(p, p.Err) || !strings.Contains(p.Error(), "refused") {
		t.Error("cause not reachable for logs")
	}
}

type recorder struct {
	*httptest.ResponseRecorder
	got *Problem
}

func (r *recorder) RecordProblem(p *Problem) { r.got = p }

func TestWriteTellsCauseRecorder(t *testing.T) {
	rec := &recorder{ResponseRecorder: httptest.NewRecorder()}
	p := New(404, TypeNotFound, "no")
	Write(rec, httptest.NewRequest("HEAD", "/", nil), p)
	if rec.got != p {
		t.Error("cause recorder not told")
	}
	if rec.Body.Len() != 0 {
		t.Error("HEAD got a body")
	}
}
