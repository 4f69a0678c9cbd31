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
