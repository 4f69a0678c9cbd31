package secaudit

import (
	"context"
	"debug/buildinfo"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
)

func fileURL(t *testing.T, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}

// repoRoot is the directory of the module's go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// buildDepsBin builds testdata/depsbin with the module's go.mod, so that
// it links real modules at the versions go.mod pins. (A test binary's own
// build info lists no dependency modules, only the main one and the Go
// release.)
func buildDepsBin(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the fixture binary: %v", err)
	}
	out := filepath.Join(t.TempDir(), "depsbin")
	cmd := exec.Command(gobin, "build", "-o", out, filepath.Join("testdata", "depsbin", "main.go"))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// requiredVersion is the version go.mod requires of mod.
func requiredVersion(t *testing.T, mod string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == mod {
			return f[1]
		}
	}
	t.Fatalf("go.mod does not require %s", mod)
	return ""
}

// inBinary is the version of mod recorded in bin's build info.
func inBinary(t *testing.T, bin, mod string) string {
	t.Helper()
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range bi.Deps {
		if m.Path == mod {
			return m.Version
		}
	}
	t.Fatalf("%s is not compiled into %s", mod, bin)
	return ""
}

// The real offline database CI uses, against this test binary (a Go binary
// with build info: the main module and the Go release): the audit runs and
// reports only its own rules.
func TestDepsOfficialOfflineDB(t *testing.T) {
	db := filepath.Join(repoRoot(t), "..", "shared", "vulndb")
	if _, err := os.Stat(filepath.Join(db, "index", "modules.json")); err != nil {
		t.Skipf("no offline vulnerability database at %s (CI has one beside the clone)", db)
	}
	fs, err := Deps(context.Background(), DepsOptions{DB: fileURL(t, db)})
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, r := range DepsRules() {
		known[r.ID] = true
	}
	for _, f := range fs {
		if !known[f.ID] || !strings.HasPrefix(f.Location.URL, "https://pkg.go.dev/vuln/GO-") || f.Location.Path == "" {
			t.Errorf("malformed finding %+v", f)
		}
		t.Logf("%s %s %s", f.ID, f.Location.Path, f.Message)
	}
	t.Logf("%s", finding.Summary(fs))
}

// A fixture database declares made-up vulnerabilities in what this test
// binary really contains; each rule must fire where it should, and a range
// fixed before the binary's version must not.
func TestDepsFindsFixtureVulnerabilities(t *testing.T) {
	bin := buildDepsBin(t)
	syncV, modV := inBinary(t, bin, "golang.org/x/sync"), inBinary(t, bin, "golang.org/x/mod")
	if syncV != requiredVersion(t, "golang.org/x/sync") || modV != requiredVersion(t, "golang.org/x/mod") {
		t.Fatalf("the fixture binary has x/sync %s and x/mod %s, not go.mod's", syncV, modV)
	}
	fs, err := Deps(context.Background(), DepsOptions{Binary: bin, DB: fileURL(t, filepath.Join("testdata", "vulndb"))})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]finding.Finding{}
	for _, f := range fs {
		osv := strings.TrimPrefix(f.Location.URL, "https://pkg.go.dev/vuln/")
		if _, dup := got[osv]; dup {
			t.Errorf("%s reported twice", osv)
		}
		got[osv] = f
	}
	goVer := "v" + strings.TrimPrefix(runtime.Version(), "go")
	for _, tc := range []struct {
		osv, rule, path string
		contains        []string
	}{
		{"GO-9999-0001", "GH-DEP-1", "golang.org/x/sync@" + syncV,
			[]string{"GO-9999-0001 (CVE-9999-0001): Test fixture: errgroup.Group.Go is vulnerable", "fixed in v0.99.0", "in the binary: golang.org/x/sync/errgroup.Group.Go"}},
		{"GO-9999-0002", "GH-DEP-2", "golang.org/x/mod@" + modV, []string{"fixed in v0.99.0"}},
		{"GO-9999-0003", "GH-DEP-4", "golang.org/x/sync@" + syncV, []string{"no fixed version yet"}},
		{"GO-9999-0004", "GH-DEP-3", "stdlib@" + goVer,
			[]string{"the Go standard library " + runtime.Version(), "fixed in go1.99.0", "encoding/json.Unmarshal"}},
	} {
		t.Run(tc.osv, func(t *testing.T) {
			f, ok := got[tc.osv]
			if !ok {
				t.Fatalf("not reported; findings: %+v", fs)
			}
			if f.ID != tc.rule || f.Location.Path != tc.path {
				t.Errorf("got %s at %s, want %s at %s", f.ID, f.Location.Path, tc.rule, tc.path)
			}
			for _, w := range tc.contains {
				if !strings.Contains(f.Message, w) {
					t.Errorf("message %q lacks %q", f.Message, w)
				}
			}
		})
	}
	if f, ok := got["GO-9999-0005"]; ok {
		t.Errorf("a vulnerability fixed before the binary's version was reported: %+v", f)
	}
	if len(got) != 4 {
		t.Errorf("%d findings, want 4: %+v", len(got), fs)
	}
}

// An audit that cannot run is an error, never "no findings".
func TestDepsCannotRun(t *testing.T) {
	fixture := fileURL(t, filepath.Join("testdata", "vulndb"))
	notGo := filepath.Join("testdata", "README.md")
	for _, tc := range []struct {
		name string
		o    DepsOptions
	}{
		{"missing database directory", DepsOptions{DB: fileURL(t, filepath.Join(t.TempDir(), "nope"))}},
		{"empty database directory", DepsOptions{DB: fileURL(t, t.TempDir())}},
		{"database without the index", DepsOptions{DB: fileURL(t, filepath.Join("testdata", "vulndb", "ID"))}},
		{"unsupported scheme", DepsOptions{DB: "ftp://vuln.example.test"}},
		{"relative path, no scheme", DepsOptions{DB: "testdata/vulndb"}},
		{"unreachable server", DepsOptions{DB: "http://127.0.0.1:1"}},
		{"missing binary", DepsOptions{DB: fixture, Binary: filepath.Join(t.TempDir(), "gatehouse")}},
		{"not a Go binary", DepsOptions{DB: fixture, Binary: notGo}},
		{"a directory as binary", DepsOptions{DB: fixture, Binary: t.TempDir()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Deps(context.Background(), tc.o)
			if err == nil {
				t.Fatalf("no error, %d findings", len(fs))
			}
			t.Log(err)
		})
	}
}

func TestDepsStreamWithoutConfigIsAnError(t *testing.T) {
	if _, err := depsFindings(strings.NewReader(`{"progress":{"message":"x"}}`)); err == nil {
		t.Error("a stream without a config message was accepted")
	}
	if _, err := depsFindings(strings.NewReader(`{"config":{"protocol_version":"v2.0.0"}}`)); err == nil {
		t.Error("an unknown protocol was accepted")
	}
	if _, err := depsFindings(strings.NewReader(`{"config":{"protocol_version":"v1.0.0"}} {`)); err == nil {
		t.Error("a truncated stream was accepted")
	}
	fs, err := depsFindings(strings.NewReader(`{"config":{"protocol_version":"v1.0.0"}}`))
	if err != nil || len(fs) != 0 {
		t.Errorf("an empty scan: %v %v", fs, err)
	}
}
