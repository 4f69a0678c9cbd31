package cli

import (
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuditLiveUsage(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no url", []string{"audit", "live"}, 2, "--url is required"},
		{"bad format", []string{"audit", "live", "--url", "https://127.0.0.1:1", "--format", "xml"}, 2, "--format"},
		{"missing key file", []string{"audit", "live", "--url", "https://127.0.0.1:1", "--api-key", "@/nonexistent/key"}, 2, "--api-key"},
		{"bad ca file", []string{"audit", "live", "--url", "https://127.0.0.1:1", "--ca-file", "/nonexistent/ca.pem"}, 2, "--ca-file"},
		{"bad url", []string{"audit", "live", "--url", "ftp://x"}, 3, "want https://host"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := run(t, c.args...)
			if code != c.code || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want %d with %q", code, stderr, c.code, c.want)
			}
		})
	}
}

func TestAuditLiveUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if code, _, stderr := run(t, "audit", "live", "--url", "https://"+addr); code != 3 {
		t.Errorf("exit %d (%s), want 3", code, stderr)
	}
}

// A run against a small TLS server: keys from a file and from the
// environment, JSON output, --fail-on, and no key in the report.
func TestAuditLiveRun(t *testing.T) {
	const key, other = "cli-test-key-0123456789abcdef", "cli-test-other-key-9876543210"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := r.Header.Get("X-API-Key"); k != key && k != other {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write([]byte("{}")) // to either key: a BOLA hole
	}))
	defer srv.Close()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(key+"\n"), 0o600)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	t.Setenv(envAuditOtherKey, other)
	args := []string{"audit", "live", "--url", srv.URL, "--ca-file", caFile, "--api-key", "@" + keyFile,
		"--object", "/api/things/1", "--budget", "60", "--format", "json", "--no-query-credentials"}
	code, stdout, stderr := run(t, args...)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a critical finding); stderr %s", code, stderr)
	}
	var rep struct {
		Findings []struct {
			ID string `json:"id"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, f := range rep.Findings {
		ids[f.ID] = true
	}
	if !ids["GH-LIVE-22"] || ids["GH-LIVE-1"] {
		t.Errorf("findings %v: want GH-LIVE-22 and not GH-LIVE-1 (the CA file verifies)", ids)
	}
	if strings.Contains(stdout, key) || strings.Contains(stdout, other) {
		t.Error("a key is in the report")
	}
	if code, _, _ := run(t, append(args, "--fail-on", "none")...); code != 0 {
		t.Errorf("--fail-on none: exit %d", code)
	}
}
