package gatehouse

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Rule 10: every package has a package doc comment.
func TestEveryPackageHasDoc(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata" {
			if d != nil && d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return err
		}
		pkgs, err := parser.ParseDir(token.NewFileSet(), path, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			return err
		}
		for name, p := range pkgs {
			documented := false
			for _, f := range p.Files {
				if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package "+name) || name == "main" && f.Doc != nil {
					documented = true
				}
			}
			if !documented {
				t.Errorf("package %s (%s) has no package doc comment", name, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Rule 13 and the dependency direction: core and capability packages never
// import testing, database or cache drivers, the gatehouse package, admin, or
// the process and CLI packages (leaf helpers such as internal/jsonenc are fine).
func TestDependencyHygiene(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./...").Output()
	if err != nil {
		t.Fatal(err)
	}
	const mod = "github.com/gatehouse-dev/gatehouse"
	capability := []string{"problem", "identity", "record", "clientip", "certs", "proxy", "edge", "ratelimit", "apikey",
		"authn", "authn/credential", "authn/keyauth", "authn/jwt", "policy", "apispec", "oauth", "revocation", "audit", "store", "secaudit/finding"}
	// Core packages: the gateway and every capability; the drivers live in
	// leaf packages (ratelimit/redislimit, store/*) that only the process
	// wiring (internal/server, the CLI) imports. The conformance suites
	// (store/storetest, ratelimit/limitertest) are test-support leaves:
	// they import testing, and only tests import them.
	core := append([]string{"", "admin", "internal/jsonenc"}, capability...)
	forbiddenInCore := []string{"testing", "github.com/jackc/pgx", "modernc.org/sqlite", "github.com/redis/go-redis"}
	testSupport := []string{mod + "/store/storetest", mod + "/ratelimit/limitertest"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := fields[0], fields[1:]
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, mod), "/")
		isCore := false
		for _, c := range core {
			if rel == c {
				isCore = true
			}
		}
		for _, d := range deps {
			for _, ts := range testSupport {
				if d == ts {
					t.Errorf("package %s depends on the test-support package %s outside its tests", pkg, d)
				}
			}
			for _, f := range forbiddenInCore {
				if isCore && (d == f || strings.HasPrefix(d, f+"/")) {
					t.Errorf("core package %s depends on %s", pkg, d)
				}
			}
			for _, c := range capability {
				if rel == c || strings.HasPrefix(rel, c+"/") || rel == "examples/library" {
					if d == mod || d == mod+"/admin" || d == mod+"/internal/cli" || d == mod+"/internal/server" || d == mod+"/internal/demo" {
						t.Errorf("capability package %s imports %s", rel, d)
					}
				}
			}
		}
	}
}
