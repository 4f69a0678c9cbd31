package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuditConfigCommand(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	file := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(file, []byte(`data_dir: "`+dir+`"
routes:
  - name: open
    match: {methods: [GET], path: /open}
    upstream: {url: "http://127.0.0.1:9000"}
`), 0o600)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"audit", "config", "--config", file}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, _ := run()
	if code != 1 || !strings.Contains(out, "GH-AN-1") || !strings.Contains(out, "\n1 high") || !strings.Contains(out, file+":3") {
		t.Errorf("a route open without public: exit %d\n%s", code, out)
	}
	if code, _, _ := run("--fail-on", "critical"); code != 0 {
		t.Errorf("--fail-on critical: exit %d", code)
	}
	if code, out, _ := run("--ignore", "GH-AN-1"); code != 0 || strings.Contains(out, "GH-AN-1") {
		t.Errorf("--ignore GH-AN-1: exit %d\n%s", code, out)
	}
	code, out, _ = run("--format", "json", "--fail-on", "none")
	var rep struct {
		Summary  map[string]int
		Findings []struct{ ID string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || rep.Summary["high"] != 1 {
		t.Errorf("json: exit %d, %v, %+v", code, err, rep)
	}
	code, out, _ = run("--format", "sarif", "--fail-on", "none")
	if code != 0 || !strings.Contains(out, `"version": "2.1.0"`) || !strings.Contains(out, `"ruleId": "GH-AN-1"`) {
		t.Errorf("sarif: exit %d\n%.400s", code, out)
	}
	for _, bad := range [][]string{{"--ignore", "GH-NOPE-1"}, {"--format", "xml"}, {"--fail-on", "severe"}} {
		if code, _, _ := run(bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
	os.WriteFile(file, []byte("routes: [{name: x}]\n"), 0o600)
	if code, _, stderr := run(); code != 3 || !strings.Contains(stderr, "routes[0]") {
		t.Errorf("a config that does not load: exit %d, %s", code, stderr)
	}
	var out2 bytes.Buffer
	if code := Main(context.Background(), []string{"audit", "rules"}, &out2, &out2); code != 0 || strings.Count(out2.String(), "\nGH-") < 80 {
		t.Errorf("audit rules: exit %d\n%s", code, out2.String())
	}
}
