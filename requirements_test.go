package gatehouse

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A requirement id is upper-case letters, a dash and two digits, standing
// alone (not inside a longer dashed name such as TLS-ALPN-01). A range
// "AZ-01..05" cites every id in it.
var requirementRE = regexp.MustCompile(`(?:^|[^A-Za-z0-9_-])([A-Z]{2,5})-([0-9]{2})(?:\.\.([0-9]{2}))?(?:[^A-Za-z0-9_-]|$)`)

// notRequirements share the shape of an id but name standards: the ACME
// challenge types.
var notRequirements = map[string]bool{"HTTP-01": true}

// requirementIDs returns every id text cites, with the ranges expanded;
// explicit reports only the ids written out, no range counting.
func requirementIDs(text []byte, explicit bool) []string {
	var ids []string
	// Matches may share a separator ("KEY-03, KEY-06"): scan overlapping.
	for i := 0; i < len(text); {
		m := requirementRE.FindSubmatchIndex(text[i:])
		if m == nil {
			break
		}
		prefix := string(text[i+m[2] : i+m[3]])
		from, _ := strconv.Atoi(string(text[i+m[4] : i+m[5]]))
		to := from
		if m[6] >= 0 && !explicit {
			to, _ = strconv.Atoi(string(text[i+m[6] : i+m[7]]))
		}
		for n := from; n <= to; n++ {
			if id := fmt.Sprintf("%s-%02d", prefix, n); !notRequirements[id] {
				ids = append(ids, id)
			}
		}
		i += m[5] // resume at the end of the first id's digits
	}
	return ids
}

// generatedReference cuts the config reference docs/config.md embeds: it
// is generated from the Go doc tags, so an id there proves nothing.
func generatedReference(path string, doc []byte) []byte {
	if filepath.Base(path) != "config.md" {
		return doc
	}
	i, j := bytes.Index(doc, []byte(beginRef)), bytes.Index(doc, []byte(endRef))
	if i < 0 || j < i {
		return doc
	}
	return append(append([]byte{}, doc[:i]...), doc[j:]...)
}

// Every requirement id cited in Go code (tests included) is defined in
// docs/: written out, not only inside a range, in a Markdown page outside
// the generated config reference. A cited id nobody documents is either a
// typo or a behaviour the docs do not explain.
func TestRequirementIDsDocumented(t *testing.T) {
	cited := map[string][]string{} // id -> files citing it
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || path == "requirements_test.go" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, id := range requirementIDs(src, false) {
			if !slices.Contains(cited[id], path) {
				cited[id] = append(cited[id], path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cited) == 0 {
		t.Fatal("no requirement ids found in .go files: the pattern is broken")
	}
	defined := map[string]bool{}
	pages, err := filepath.Glob(filepath.Join("docs", "*.md"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no docs pages: %v", err)
	}
	for _, p := range pages {
		doc, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range requirementIDs(generatedReference(p, doc), true) {
			defined[id] = true
		}
	}
	var missing []string
	for id, files := range cited {
		if !defined[id] {
			missing = append(missing, fmt.Sprintf("%s (cited in %s)", id, strings.Join(files, ", ")))
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("requirement %s is not defined in docs/*.md: describe it on the page of the behaviour, citing its id", m)
	}
}

func TestRequirementIDsPattern(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		explicit   bool
		want       []string
	}{
		{"single", "// PRX-01: forwarded headers", false, []string{"PRX-01"}},
		{"list", "(KEY-03, KEY-06, LOG-02)", false, []string{"KEY-03", "KEY-06", "LOG-02"}},
		{"range", "(AZ-01..03).", false, []string{"AZ-01", "AZ-02", "AZ-03"}},
		{"range explicit", "(AZ-01..03).", true, []string{"AZ-01"}},
		{"table cell", "| JWT-02, JWT-07 |", true, []string{"JWT-02", "JWT-07"}},
		{"start and end", "OA-10", false, []string{"OA-10"}},
		{"standards are not ids", "AES-256-GCM, SHA-256, P-256, UTF-8, TLS-ALPN-01, HTTP-01, RFC-9457, CVE-2024-1234", false, nil},
		{"lower case is not an id", "prx-01, Prx-01", false, nil},
		{"part of a name", "XPRX-01a, _PRX-01", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := requirementIDs([]byte(tc.text), tc.explicit); !slices.Equal(got, tc.want) {
				t.Errorf("requirementIDs(%q) = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
}
