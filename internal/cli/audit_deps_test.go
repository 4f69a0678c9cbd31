package cli

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The secaudit package's made-up database: one of its advisories names
// encoding/json.Unmarshal of every Go release, which this test binary
// links, so the default binary (this one) has a high finding.
func fixtureDB(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("..", "..", "secaudit", "testdata", "vulndb"))
	if err != nil {
		t.Fatal(err)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}

func TestAuditDeps(t *testing.T) {
	db := fixtureDB(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  []string
	}{
		{"a high finding fails by default", []string{"--db", db}, 1, []string{"GH-DEP-3", "GO-9999-0004", "encoding/json.Unmarshal", "HIGH (1)"}},
		{"--fail-on none", []string{"--db", db, "--fail-on", "none"}, 0, []string{"GH-DEP-3"}},
		{"--fail-on critical", []string{"--db", db, "--fail-on", "critical"}, 0, nil},
		{"json", []string{"--db", db, "--format", "json", "--fail-on", "none"}, 0, []string{`"id": "GH-DEP-3"`, `"path": "stdlib@v`}},
		{"unreadable database", []string{"--db", "file://" + filepath.ToSlash(t.TempDir())}, 3, nil},
		{"unreachable database", []string{"--db", "http://127.0.0.1:1"}, 3, nil},
		{"timeout", []string{"--db", db, "--timeout", "1ns"}, 3, nil},
		{"missing binary", []string{"--db", db, "--binary", filepath.Join(t.TempDir(), "x")}, 3, nil},
		{"bad format", []string{"--db", db, "--format", "xml"}, 2, nil},
		{"bad fail-on", []string{"--db", db, "--fail-on", "severe"}, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, append([]string{"audit", "deps"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			for _, w := range tc.out {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.code == 3 && (out != "" || !strings.Contains(errs, "audit deps")) {
				t.Errorf("an audit that could not run printed a report: %q / %q", out, errs)
			}
		})
	}
}

func TestAuditDepsSARIF(t *testing.T) {
	o := filepath.Join(t.TempDir(), "deps.sarif")
	code, _, errs := run(t, "audit", "deps", "--db", fixtureDB(t), "--format", "sarif", "-o", o)
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(o)
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name, Version string
					Rules         []struct{ ID string }
				}
			}
			Results []struct{ RuleID, Level string }
		}
	}
	if err := json.Unmarshal(b, &log); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("not a SARIF log:\n%s", b)
	}
	r := log.Runs[0]
	if r.Tool.Driver.Name != "gatehouse" || r.Tool.Driver.Version != Version || len(r.Tool.Driver.Rules) != 4 {
		t.Errorf("driver %+v", r.Tool.Driver)
	}
	if len(r.Results) != 1 || r.Results[0].RuleID != "GH-DEP-3" || r.Results[0].Level != "error" {
		t.Errorf("results %+v", r.Results)
	}
}
