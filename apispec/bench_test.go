package apispec

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// demoOrder is a 1 KiB order for the demo's document: eight lines, an
// address and a note.
func demoOrder() string {
	var b strings.Builder
	b.WriteString(`{"tenant":"acme","owner":"alice","item":"workshop restock","quantity":8,"lines":[`)
	for i := range 8 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"sku":"ANV`)
		b.WriteByte(byte('0' + i))
		b.WriteString(`00-XL","quantity":`)
		b.WriteByte(byte('1' + i))
		b.WriteString(`,"unit_price":129.95,"currency":"CHF"}`)
	}
	b.WriteString(`],"shipping_address":{"name":"Alice Example","street":"Bahnhofstrasse 1","city":"Zurich","postal_code":"8001","country":"CH"},"note":"`)
	for b.Len() < 1022 {
		b.WriteByte('n')
	}
	b.WriteString(`"}`)
	return b.String()
}

// BenchmarkCheckRequest is one request with a 1 KiB JSON body against the
// demo's document (internal/demo/openapi.yaml), with the demo's settings.
func BenchmarkCheckRequest(b *testing.B) {
	s := load(b, "../internal/demo/openapi.yaml", Options{Strict: true, RejectUnknownFields: true})
	body := demoOrder()
	if len(body) != 1024 {
		b.Fatalf("body is %d bytes", len(body))
	}
	r := httptest.NewRequest("POST", "/orders", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if f := s.CheckRequest(r); f != nil {
		b.Fatalf("sample refused: %+v", f.Violations)
	}
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			r := httptest.NewRequest("POST", "/orders", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			if s.CheckRequest(r) != nil {
				b.Fatal("refused")
			}
		}
	})
	b.Run("json-precheck", func(b *testing.B) {
		raw := []byte(body)
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if fatal, _ := walk(raw, nil, inRequest, false, 32); fatal != nil {
				b.Fatal("refused")
			}
		}
	})
	b.Run("walk-with-shapes", func(b *testing.B) {
		raw := []byte(body)
		var root *shape
		for k, op := range s.ops {
			if k.method == "POST" {
				root = op.requests["application/json"]
			}
		}
		if root == nil || root.free() {
			b.Fatal("no shape for POST /orders")
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if fatal, v := walk(raw, root, inRequest, true, 32); fatal != nil || len(v) > 0 {
				b.Fatal("refused")
			}
		}
	})
	b.Run("get-no-body", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := httptest.NewRequest("GET", "/orders/12", http.NoBody)
			if s.CheckRequest(r) != nil {
				b.Fatal("refused")
			}
		}
	})
	b.Run("request-alone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := httptest.NewRequest("POST", "/orders", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
		}
	})
}
