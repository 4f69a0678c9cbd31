package gatehouse

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Deps.Audit lints every config that loads: on New and on each successful
// reload the findings are replaced, counted by severity and the high ones
// logged as warnings; a failed reload keeps the last findings.
func TestSelfAuditOnLoadAndReload(t *testing.T) {
	// The stand-in audit: one high finding per route without auth.
	audit := func(c *Config) []finding.Finding {
		var fs []finding.Finding
		for _, r := range c.Routes {
			if r.Auth == nil {
				fs = append(fs, finding.Finding{Rule: finding.Rule{ID: "GH-AN-1", Severity: finding.High, Title: "no auth"}, Message: r.Name})
			}
		}
		return append(fs, finding.Finding{Rule: finding.Rule{ID: "GH-TLS-1", Severity: finding.Info}})
	}
	var mu sync.Mutex
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(lockedBuffer{&mu, &logs}, nil))
	route := func(name string) string {
		return "  - {name: " + name + ", match: {path: /" + name + "}, upstream: {url: \"http://127.0.0.1:9\"}}\n"
	}
	gw, err := New(mustParse(t, "routes:\n"+route("a")+route("b")), Deps{Log: log, AccessLog: io.Discard, Audit: audit})
	if err != nil {
		t.Fatal(err)
	}
	gauge := func(sev string) float64 { return testutil.ToFloat64(gw.Metrics().auditFindings.WithLabelValues(sev)) }
	if n := len(gw.AuditFindings()); n != 3 || gauge("high") != 2 || gauge("info") != 1 || gauge("critical") != 0 {
		t.Fatalf("after New: %d findings, high %v, info %v", n, gauge("high"), gauge("info"))
	}
	mu.Lock()
	warnings := strings.Count(logs.String(), `"level":"WARN","msg":"security audit finding"`)
	mu.Unlock()
	if warnings != 2 {
		t.Errorf("%d warnings for 2 high findings:\n%s", warnings, logs.String())
	}
	if err := gw.Reload(mustParse(t, "routes:\n"+route("a"))); err != nil {
		t.Fatal(err)
	}
	if gauge("high") != 1 || len(gw.AuditFindings()) != 2 {
		t.Errorf("after reload: high %v, %d findings", gauge("high"), len(gw.AuditFindings()))
	}
	bad := mustParse(t, "policies: [/nonexistent.cedar]\nroutes:\n"+route("a")+route("b")+route("c"))
	if err := gw.Reload(bad); err == nil {
		t.Fatal("a reload with a missing policy file succeeded")
	}
	if gauge("high") != 1 {
		t.Errorf("a failed reload changed the findings: high %v", gauge("high"))
	}
}
