package secaudit

import (
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Beside fail and pass, a rule may have more cases: fail-<what> must
// report it (at a location in a file), pass-<what> must not. They hold the
// false negatives and false positives found in review, each in the shape
// it was found.
func TestConfigRuleVariants(t *testing.T) {
	for _, r := range ConfigRules() {
		dirs, _ := filepath.Glob(filepath.Join("testdata", "rules", r.ID, "*-*"))
		for _, dir := range dirs {
			name := filepath.Base(dir)
			if _, err := os.Stat(filepath.Join(dir, "gatehouse.yaml")); err != nil {
				continue
			}
			t.Run(r.ID+"/"+name, func(t *testing.T) {
				fs := runCase(t, dir)
				got := slices.IndexFunc(fs, func(f finding.Finding) bool { return f.ID == r.ID })
				switch {
				case strings.HasPrefix(name, "fail-") && got < 0:
					t.Errorf("%s: rule not reported; findings: %v", dir, ids(fs))
				case strings.HasPrefix(name, "fail-"):
					if l := fs[got].Location; l.File == "" || l.Line == 0 {
						t.Errorf("%s: finding without a location: %+v", dir, l)
					}
				case strings.HasPrefix(name, "pass-") && got >= 0:
					t.Errorf("%s: rule reported: %s", dir, fs[got].Message)
				}
			})
		}
	}
}

// A plain-HTTP upstream is reported once, though the load copies url into
// urls.
func TestCleartextUpstreamReportedOnce(t *testing.T) {
	fs := runCase(t, filepath.Join("testdata", "rules", "GH-TLS-5", "fail"))
	n := 0
	for _, f := range fs {
		if f.ID == "GH-TLS-5" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("GH-TLS-5 reported %d times, want 1", n)
	}
}
