package edge

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Writer wrappers unwrap, so http.ResponseController reaches the connection.
func TestStatusWriterUnwraps(t *testing.T) {
	rec := httptest.NewRecorder()
	sw := &statusWriter{ResponseWriter: rec}
	if err := http.NewResponseController(sw).Flush(); err != nil {
		t.Fatalf("Flush through wrapper: %v", err)
	}
	if !rec.Flushed {
		t.Error("flush did not reach the recorder")
	}
}

// The request passed on carries the path in the normal form the decisions
// were made on: sub-delimiters Go would re-escape ('!' as %21, "'") stay as
// they were, so the upstream sees the same path (RFC 3986 2.2: a reserved
// character and its escape are not equivalent).
func TestLimitsKeepNormalForm(t *testing.T) {
	l := &Limits{}
	for in, want := range map[string]string{
		"/a//!b":       "/a/!b",
		"/a/'x'":       "/a/'x'",
		"/a/%7Euser":   "/a/~user",
		"/a/b%20c":     "/a/b%20c",
		"/a/./b/../c!": "/a/c!",
		"/a/%21":       "/a/%21",
	} {
		r := httptest.NewRequest("GET", "http://h"+in, nil)
		n, p := l.Check(r)
		if p != nil {
			t.Errorf("%s: %v", in, p)
			continue
		}
		if got := n.URL.EscapedPath(); got != want {
			t.Errorf("%s: upstream path %q, want %q", in, got, want)
		}
	}
}
