package edge

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// PRX-05: paths are put into one normal form before matching.
func TestNormalizePath(t *testing.T) {
	tests := []struct {
		in, normal, decoded string
		err                 error
	}{
		{"/", "/", "/", nil},
		{"/orders/1", "/orders/1", "/orders/1", nil},
		{"/orders/", "/orders/", "/orders/", nil},
		{"//orders///1", "/orders/1", "/orders/1", nil},
		{"/a/./b", "/a/b", "/a/b", nil},
		{"/a/../b", "/b", "/b", nil},
		{"/../../etc/passwd", "/etc/passwd", "/etc/passwd", nil},
		{"/a/b/..", "/a/", "/a/", nil},
		{"/a/%2e%2e/b", "/b", "/b", nil},
		{"/a/%2E./b", "/b", "/b", nil},
		{"/a/.%2e", "/", "/", nil},
		{"/%61%62c", "/abc", "/abc", nil},
		{"/a%20b", "/a%20b", "/a b", nil},
		{"/a%3ab", "/a%3Ab", "/a:b", nil},
		{"/caf\xc3\xa9", "/caf%C3%A9", "/caf\u00e9", nil},
		{"/a%2Fb", "", "", ErrPathAmbiguous},
		{"/a%2fb", "", "", ErrPathAmbiguous},
		{"/a%5Cb", "", "", ErrPathAmbiguous},
		{"/a\\b", "", "", ErrPathAmbiguous},
		{"/a%00b", "", "", ErrPathAmbiguous},
		{"/a%0d%0aX-Injected:1", "", "", ErrPathAmbiguous},
		{"/a%zz", "", "", ErrPathEncoding},
		{"/a%4", "", "", ErrPathEncoding},
		{"orders", "", "", ErrPathNotAbsolute},
		{"", "", "", ErrPathNotAbsolute},
		{"*", "", "", ErrPathNotAbsolute},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			n, d, err := NormalizePath(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if n != tc.normal || d != tc.decoded {
				t.Errorf("got (%q, %q), want (%q, %q)", n, d, tc.normal, tc.decoded)
			}
		})
	}
}

// FuzzNormalizePath checks the properties every normal form has: it is
// absolute, idempotent, free of empty and dot segments and of encoded
// slashes, and its decoded form is its unescaping.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "//x//y", "/%2e%2e/%2f", "/a/./b/", "/caf\xc3\xa9", "/a%20b?c", "/.%2E/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, d, err := NormalizePath(in)
		if err != nil {
			if n != "" || d != "" {
				t.Fatalf("error with output: %q %q", n, d)
			}
			return
		}
		if !strings.HasPrefix(n, "/") {
			t.Fatalf("%q -> %q not absolute", in, n)
		}
		n2, d2, err := NormalizePath(n)
		if err != nil || n2 != n || d2 != d {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", in, n, n2, err)
		}
		for _, seg := range strings.Split(n[1:], "/")[:max(0, strings.Count(n[1:], "/"))] {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("%q -> %q has segment %q", in, n, seg)
			}
		}
		if u := strings.ToUpper(n); strings.Contains(u, "%2F") || strings.Contains(u, "%5C") || strings.Contains(n, "\\") {
			t.Fatalf("%q -> %q keeps an encoded slash", in, n)
		}
		if want, err := url.PathUnescape(n); err != nil || want != d {
			t.Fatalf("decoded %q is not the unescaping of %q", d, n)
		}
	})
}
