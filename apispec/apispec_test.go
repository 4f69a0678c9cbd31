package apispec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t testing.TB, file string, o Options) *Spec {
	t.Helper()
	s, err := Load(file, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var versions = []string{"testdata/orders-3.0.yaml", "testdata/orders-3.1.yaml"}

func req(method, target, ct, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body == "" {
		r.Body = http.NoBody
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	r.Header.Set("X-Tenant", "acme")
	r.Header.Set("User-Agent", "test")
	return r
}

const good = `{"item":"book","quantity":2,"email":"a@example.com","address":{"city":"Bern"},"tags":["x"]}`

type want struct {
	status   int // 0: passes
	location string
	pointer  string
	name     string
	reason   string // substring
}

func TestRequests(t *testing.T) {
	cases := []struct {
		name            string
		r               func() *http.Request
		strict, unknown bool
		want            want
	}{
		{"valid GET", func() *http.Request { return req("GET", "/orders?limit=5&status=open", "", "") }, true, true, want{}},
		{"valid POST", func() *http.Request { return req("POST", "/orders", "application/json", good) }, true, true, want{}},
		{"query above maximum", func() *http.Request { return req("GET", "/orders?limit=500", "", "") }, false, false,
			want{400, "query", "", "limit", "above the maximum 100"}},
		{"query wrong type", func() *http.Request { return req("GET", "/orders?limit=many", "", "") }, false, false,
			want{400, "query", "", "limit", ""}},
		{"query enum", func() *http.Request { return req("GET", "/orders?status=lost", "", "") }, false, false,
			want{400, "query", "", "status", "allowed values"}},
		{"header pattern", func() *http.Request {
			r := req("GET", "/orders", "", "")
			r.Header.Set("X-Tenant", "NOT-VALID")
			return r
		}, false, false, want{400, "header", "", "X-Tenant", "pattern"}},
		{"header missing", func() *http.Request {
			r := req("GET", "/orders", "", "")
			r.Header.Del("X-Tenant")
			return r
		}, false, false, want{400, "header", "", "X-Tenant", "required"}},
		{"cookie format", func() *http.Request {
			r := req("POST", "/orders", "application/json", good)
			r.AddCookie(&http.Cookie{Name: "session", Value: "not-a-uuid"})
			return r
		}, false, false, want{400, "cookie", "", "session", ""}},
		{"path pattern", func() *http.Request { return req("GET", "/orders/NOT_OK", "", "") }, false, false,
			want{400, "path", "", "id", "pattern"}},
		{"body wrong type", func() *http.Request { return req("POST", "/orders", "application/json", `{"item":"x","quantity":"2"}`) }, false, false,
			want{400, "body", "/quantity", "", "wrong type: got string, want integer"}},
		{"body missing required", func() *http.Request { return req("POST", "/orders", "application/json", `{"item":"x"}`) }, false, false,
			want{400, "body", "", "", "missing property 'quantity'"}},
		{"body nested type", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"item":"x","quantity":1,"address":{"city":7}}`)
		}, false, false, want{400, "body", "/address/city", "", "wrong type"}},
		{"body format", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"item":"x","quantity":1,"email":"nope"}`)
		}, false, false, want{400, "body", "/email", "", "not a valid email"}},
		{"body maxItems", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"item":"x","quantity":1,"tags":["a","b","c","d","e","f"]}`)
		}, false, false, want{400, "body", "/tags", "", "more items than 5"}},
		{"body empty", func() *http.Request { return req("POST", "/orders", "application/json", "") }, false, false,
			want{400, "body", "", "", "body is required"}},
		{"body not JSON", func() *http.Request { return req("POST", "/orders", "application/json", `{"item":`) }, false, false,
			want{400, "body", "", "", "not valid JSON"}},
		{"unknown field allowed by default", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"item":"x","quantity":1,"is_admin":true}`)
		}, false, false, want{}},
		{"unknown field refused", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"item":"x","quantity":1,"is_admin":true}`)
		}, false, true, want{400, "body", "/is_admin", "", "not declared"}},
		{"nested unknown field refused", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"item":"x","quantity":1,"address":{"city":"a","owner":"me"}}`)
		}, false, true, want{400, "body", "/address/owner", "", "not declared"}},
		{"unknown query refused", func() *http.Request { return req("GET", "/orders?limit=1&debug=1", "", "") }, false, true,
			want{400, "query", "", "debug", "not declared"}},
		{"readOnly refused", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"id":"o-1","item":"x","quantity":1}`)
		}, false, false, want{400, "body", "/id", "", "readOnly"}},
		// VAL-06: names back ends bind case-insensitively to a declared
		// property are refused, with or without reject_unknown_fields.
		{"readOnly by case folding (U+017F)", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"İd":"o-1","item":"x","quantity":1}`)
		}, false, false, want{400, "body", "/İd", "", "only by case"}},
		{"readOnly by upper case", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"ID":"o-1","item":"x","quantity":1}`)
		}, false, false, want{400, "body", "/ID", "", "only by case"}},
		{"long s for s", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"item":"x","quantity":1,"addreſs":{"city":"a"}}`)
		}, false, false, want{400, "body", "/addreſs", "", "only by case"}},
		{"Kelvin sign for k", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"item":"x","quantity":1,"tags":["a"],"Key":1}`)
		}, false, false, want{}},
		{"malformed content type parameter", func() *http.Request {
			return req("POST", "/orders", "application/json;a", `{"ID":"o-1","item":"x","quantity":1}`)
		}, false, false, want{400, "header", "", "Content-Type", "not a valid media type"}},
		{"undeclared content type", func() *http.Request { return req("POST", "/orders", "text/plain", "hello") }, false, false,
			want{415, "header", "", "Content-Type", "not declared"}},
		{"no content type", func() *http.Request { return req("POST", "/orders", "", good) }, false, false,
			want{415, "header", "", "Content-Type", "not declared"}},
		{"body on an operation without one", func() *http.Request { return req("GET", "/orders/o-1", "application/json", `{}`) }, false, false,
			want{400, "body", "", "", "takes no body"}},
		{"strict unknown path", func() *http.Request { return req("GET", "/admin", "", "") }, true, false,
			want{404, "operation", "", "", "path"}},
		{"strict unknown method", func() *http.Request { return req("PUT", "/orders/o-1", "", "") }, true, false,
			want{405, "operation", "", "", "method"}},
		{"lenient unknown path", func() *http.Request { return req("GET", "/admin", "", "") }, false, false, want{}},
		{"lenient unknown method", func() *http.Request { return req("PUT", "/orders/o-1", "", "") }, false, false, want{}},
		{"duplicate key", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"item":"x","quantity":1,"quantity":900}`)
		}, false, false, want{400, "body", "", "", "duplicate key"}},
		{"escaped duplicate key", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"item":"x","quantity":1,"\u0071uantity":900}`)
		}, false, false, want{400, "body", "", "", "duplicate key"}},
		{"two values", func() *http.Request { return req("POST", "/orders", "application/json", good+` {"item":"y"}`) }, false, false,
			want{400, "body", "", "", "more than one value"}},
		{"invalid UTF-8", func() *http.Request {
			return req("POST", "/orders", "application/json", "{\"item\":\"\xff\",\"quantity\":1}")
		}, false, false, want{400, "body", "", "", "not valid JSON"}},
		{"too deep", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"item":"x","quantity":1,"address":`+strings.Repeat(`{"a":`, 40)+`1`+strings.Repeat(`}`, 41))
		}, false, false, want{400, "body", "", "", "nested deeper than 32"}},
		{"number beyond float64", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"item":"x","quantity":1e400}`)
		}, false, false, want{400, "body", "", "", ""}},
		{"integer beyond int64", func() *http.Request {
			return req("POST", "/orders", "application/json", `{"item":"x","quantity":123456789012345678901234567890}`)
		}, false, false, want{400, "body", "/quantity", "", "above the maximum 1000"}},
		{"form body", func() *http.Request {
			return req("POST", "/orders", "application/x-www-form-urlencoded", "item=book&quantity=2")
		}, false, false, want{}},
		{"form body wrong type", func() *http.Request {
			return req("POST", "/orders", "application/x-www-form-urlencoded", "item=book&quantity=lots")
		}, false, false, want{400, "body", "", "", ""}},
		{"multipart body", func() *http.Request { return multipartReq(t, map[string]string{"item": "book", "quantity": "3"}) }, false, false, want{}},
		{"multipart missing field", func() *http.Request { return multipartReq(t, map[string]string{"quantity": "3"}) }, false, false,
			want{400, "body", "", "", "item"}},
	}
	for _, file := range versions {
		for _, c := range cases {
			t.Run(filepath.Base(file)+"/"+c.name, func(t *testing.T) {
				s := load(t, file, Options{Strict: c.strict, RejectUnknownFields: c.unknown})
				r := c.r()
				f := s.CheckRequest(r)
				checkFailure(t, f, c.want)
				// The body is intact for the upstream either way.
				if r.Body != nil && r.Body != http.NoBody {
					got, _ := io.ReadAll(r.Body)
					if int64(len(got)) != r.ContentLength {
						t.Errorf("body after check: %d bytes, ContentLength %d", len(got), r.ContentLength)
					}
				}
			})
		}
	}
}

func checkFailure(t *testing.T, f *Failure, w want) {
	t.Helper()
	if w.status == 0 {
		if f != nil {
			t.Fatalf("refused: %d %+v", f.Status, f.Violations)
		}
		return
	}
	if f == nil {
		t.Fatalf("passed, want %d", w.status)
	}
	if f.Status != w.status {
		t.Fatalf("status %d, want %d (%+v)", f.Status, w.status, f.Violations)
	}
	for _, v := range f.Violations {
		if v.Location == w.location && (w.pointer == "" || v.Pointer == w.pointer) && (w.name == "" || v.Name == w.name) && strings.Contains(v.Reason, w.reason) {
			return
		}
	}
	t.Fatalf("no violation {%s %s %s %q} in %+v", w.location, w.name, w.pointer, w.reason, f.Violations)
}

func multipartReq(t *testing.T, fields map[string]string) *http.Request {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	return req("POST", "/orders", mw.FormDataContentType(), b.String())
}

func TestAllowHeaderOn405(t *testing.T) {
	s := load(t, versions[1], Options{Strict: true})
	f := s.CheckRequest(req("PATCH", "/orders/o-1", "", ""))
	if f == nil || f.Status != 405 || strings.Join(f.Allow, ",") != "GET,HEAD,DELETE" {
		t.Fatalf("got %+v", f)
	}
	w := httptest.NewRecorder()
	WriteFailure(w, req("PATCH", "/orders/o-1", "", ""), f)
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD, DELETE" {
		t.Fatalf("%d %q", w.Code, w.Header().Get("Allow"))
	}
}

// Values the client sent never come back, whatever failed.
func TestViolationsNeverEchoValues(t *testing.T) {
	const secret = "sk_live_9f8e7d6c5b4a"
	s := load(t, versions[1], Options{Strict: true, RejectUnknownFields: true})
	reqs := []*http.Request{
		req("GET", "/orders?limit="+secret, "", ""),
		req("GET", "/orders?status="+secret, "", ""),
		req("GET", "/orders/"+strings.ToUpper(secret), "", ""),
		req("POST", "/orders", "application/json", `{"item":"x","quantity":"`+secret+`"}`),
		req("POST", "/orders", "application/json", `{"item":"x","quantity":1,"email":"`+secret+`"}`),
		req("POST", "/orders", "application/json", `{"item":"x","quantity":1,"status":"`+secret+`"}`),
		req("POST", "/orders", "application/json", `{"item":"`+strings.Repeat(secret, 10)+`","quantity":1}`),
		req("POST", "/orders", "application/json", `{"item":"x","quantity":1,"password":"`+secret+`"}`),
		req("POST", "/orders", "application/json", `{"item":"x","quantity":`+secret+`}`),
	}
	h := func() *http.Request { r := req("GET", "/orders", "", ""); r.Header.Set("X-Tenant", secret); return r }
	reqs = append(reqs, h())
	for i, r := range reqs {
		f := s.CheckRequest(r)
		if f == nil {
			t.Fatalf("request %d passed", i)
		}
		w := httptest.NewRecorder()
		WriteFailure(w, r, f)
		if strings.Contains(w.Body.String(), secret) || strings.Contains(w.Body.String(), strings.ToUpper(secret)) {
			t.Errorf("request %d echoed the value: %s", i, w.Body)
		}
		if strings.Contains(violationsError(f.Violations).Error(), secret) {
			t.Errorf("request %d: log text echoes the value", i)
		}
	}
}

func TestProblemBody(t *testing.T) {
	s := load(t, versions[1], Options{})
	r := req("POST", "/orders", "application/json", `{"item":"x","quantity":"2"}`)
	w := httptest.NewRecorder()
	WriteFailure(w, r, s.CheckRequest(r))
	if w.Code != 400 || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%d %s", w.Code, w.Header().Get("Content-Type"))
	}
	var p struct {
		Type   string      `json:"type"`
		Errors []Violation `json:"errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != TypeInvalidRequest || len(p.Errors) != 1 || p.Errors[0] != (Violation{Location: "body", Pointer: "/quantity", Reason: "wrong type: got string, want integer"}) {
		t.Fatalf("%+v", p)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load("testdata/broken.yaml", Options{})
	var le *LoadError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("broken ref: %v", err)
	}
	_, err = Load("testdata/invalid.yaml", Options{})
	if err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("invalid document: %v", err)
	}
	if _, err = Load("testdata/nope.yaml", Options{}); err == nil {
		t.Fatal("missing file loaded")
	}
	dir := t.TempDir()
	dup := filepath.Join(dir, "dup.yaml")
	os.WriteFile(dup, []byte("openapi: 3.1.0\ninfo: {title: t, version: \"1\"}\npaths:\n  /x:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema:\n              type: object\n              properties: {a: {type: integer}}\n              properties: {b: {type: string}}\n      responses: {\"200\": {description: ok}}\n"), 0o600)
	if _, err = Load(dup, Options{}); err == nil || !strings.Contains(err.Error(), `line 12: key "properties" repeated (first at line 11)`) {
		t.Fatalf("duplicate key: %v", err)
	}
	swagger := filepath.Join(dir, "swagger.yaml")
	os.WriteFile(swagger, []byte("swagger: \"2.0\"\ninfo: {title: x, version: \"1\"}\npaths: {}\n"), 0o600)
	if _, err = Load(swagger, Options{}); err == nil || !strings.Contains(err.Error(), "3.0 and 3.1") {
		t.Fatalf("swagger 2: %v", err)
	}
}

func TestRemoteRefs(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		fmt.Fprint(w, "Thing:\n  type: object\n  properties:\n    n: {type: integer}\n")
	}))
	defer srv.Close()
	data, _ := os.ReadFile("testdata/remote.yaml")
	file := filepath.Join(t.TempDir(), "remote.yaml")
	os.WriteFile(file, bytes.ReplaceAll(data, []byte("REMOTE"), []byte(srv.URL)), 0o600)

	_, err := Load(file, Options{})
	if err == nil || !strings.Contains(err.Error(), "not in allow_remote_refs") || hits != 0 {
		t.Fatalf("remote ref without allowlist: %v (fetched %d)", err, hits)
	}
	_, err = Load(file, Options{AllowRemoteRefs: []string{"https://schemas.example.com/"}})
	if err == nil || hits != 0 {
		t.Fatalf("remote ref outside allowlist: %v (fetched %d)", err, hits)
	}
	s, err := Load(file, Options{AllowRemoteRefs: []string{srv.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	if hits == 0 {
		t.Fatal("allowlisted ref not fetched")
	}
	f := s.CheckRequest(req("POST", "/x", "application/json", `{"n":"one"}`))
	checkFailure(t, f, want{400, "body", "/n", "", "wrong type"})
}
