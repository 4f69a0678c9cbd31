package apispec

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The JSON-Schema-Test-Suite, run through the gateway's own path: each
// schema becomes a request body schema of an OpenAPI document, each test's
// data a request body. The suite is read from Go modules that ship copies
// of it (the suite itself is not a module): draft 2020-12 for OpenAPI 3.1,
// draft 4 for OpenAPI 3.0 (whose schema object is a draft-4 subset).
const (
	suite2020 = "github.com/google/jsonschema-go@v0.4.3" // jsonschema/testdata/draft2020-12, suite commit 83e866b
	suite4    = "github.com/xeipuuv/gojsonschema@v1.2.0" // testdata/draft4
)

// moduleDir downloads a module through the module proxy and returns its
// directory in the module cache.
func moduleDir(t *testing.T, mod string) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", mod).Output()
	if err != nil {
		t.Skipf("JSON-Schema-Test-Suite: cannot download %s (%v); needs the Go module proxy", mod, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		t.Skipf("JSON-Schema-Test-Suite: %s: %s", mod, info.Error)
	}
	return info.Dir
}

type suiteGroup struct {
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Tests       []struct {
		Description string          `json:"description"`
		Data        json.RawMessage `json:"data"`
		Valid       bool            `json:"valid"`
	} `json:"tests"`
}

type suiteResult struct{ pass, fail, loadFail int }

// runSuite runs the files of dir through documents of openapi version
// version and returns the results per file.
func runSuite(t *testing.T, dir, version string, files []string) map[string]*suiteResult {
	results := map[string]*suiteResult{}
	work := t.TempDir()
	n := 0
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var groups []suiteGroup
		if err := json.Unmarshal(data, &groups); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res := &suiteResult{}
		results[name] = res
		for _, g := range groups {
			n++
			// The schema lives in a file of its own, so "#" in it means
			// the schema, as in the suite, not the OpenAPI document.
			schemaFile := fmt.Sprintf("s%d.json", n)
			os.WriteFile(filepath.Join(work, schemaFile), g.Schema, 0o600)
			doc := fmt.Sprintf("openapi: %s\ninfo: {title: suite, version: \"1\"}\npaths:\n  /t:\n    post:\n      requestBody:\n        required: true\n        content:\n          application/json:\n            schema: {$ref: \"./%s\"}\n      responses: {\"200\": {description: ok}}\n", version, schemaFile)
			docFile := filepath.Join(work, fmt.Sprintf("d%d.yaml", n))
			os.WriteFile(docFile, []byte(doc), 0o600)
			s, err := Load(docFile, Options{MaxDepth: 1000})
			if err != nil {
				res.loadFail += len(g.Tests)
				continue
			}
			for _, tc := range g.Tests {
				r := httptest.NewRequest("POST", "/t", strings.NewReader(string(tc.Data)))
				r.Header.Set("Content-Type", "application/json")
				f := s.CheckRequest(r)
				if (f == nil) == tc.Valid {
					res.pass++
				} else {
					res.fail++
					if testing.Verbose() {
						t.Logf("%s: %s / %s: valid=%v, got %+v", name, g.Description, tc.Description, tc.Valid, f)
					}
				}
			}
		}
	}
	return results
}

func report(t *testing.T, label string, results map[string]*suiteResult) float64 {
	var names []string
	for n := range results {
		names = append(names, n)
	}
	sort.Strings(names)
	var total suiteResult
	var b strings.Builder
	for _, n := range names {
		r := results[n]
		total.pass += r.pass
		total.fail += r.fail
		total.loadFail += r.loadFail
		if r.fail+r.loadFail > 0 {
			fmt.Fprintf(&b, "  %-28s %3d/%3d", n, r.pass, r.pass+r.fail+r.loadFail)
			if r.loadFail > 0 {
				fmt.Fprintf(&b, " (%d in schemas that do not load)", r.loadFail)
			}
			b.WriteByte('\n')
		}
	}
	all := total.pass + total.fail + total.loadFail
	rate := float64(total.pass) / float64(all)
	t.Logf("%s: %d of %d tests pass (%.1f%%); files with failures:\n%s", label, total.pass, all, 100*rate, b.String())
	return rate
}

func TestJSONSchemaSuite2020(t *testing.T) {
	if testing.Short() {
		t.Skip("suite: not in -short")
	}
	dir := filepath.Join(moduleDir(t, suite2020), "jsonschema", "testdata", "draft2020-12")
	entries, _ := os.ReadDir(dir)
	var files []string
	for _, e := range entries {
		// refRemote needs the suite's remote server on localhost:1234,
		// which remote $refs (refused unless allowlisted) never reach.
		if strings.HasSuffix(e.Name(), ".json") && e.Name() != "refRemote.json" {
			files = append(files, e.Name())
		}
	}
	rate := report(t, "draft 2020-12 through OpenAPI 3.1", runSuite(t, dir, "3.1.0", files))
	// The floor is the rate measured when this test was written; a lower
	// one is a regression in the validator or in the gateway's checks.
	if rate < 0.90 {
		t.Errorf("pass rate %.3f fell below 0.90", rate)
	}
}

func TestJSONSchemaSuiteDraft4(t *testing.T) {
	if testing.Short() {
		t.Skip("suite: not in -short")
	}
	dir := filepath.Join(moduleDir(t, suite4), "testdata", "draft4")
	// The keywords of OpenAPI 3.0's schema object (a subset of draft 4:
	// no definitions, dependencies, patternProperties, additionalItems,
	// and no type arrays).
	files := []string{
		"additionalProperties.json", "allOf.json", "anyOf.json", "default.json", "enum.json", "items.json",
		"maxItems.json", "maxLength.json", "maxProperties.json", "maximum.json", "minItems.json", "minLength.json",
		"minProperties.json", "minimum.json", "multipleOf.json", "not.json", "oneOf.json", "pattern.json",
		"properties.json", "required.json", "type.json", "uniqueItems.json",
	}
	rate := report(t, "draft 4 (OpenAPI 3.0 keywords) through OpenAPI 3.0", runSuite(t, dir, "3.0.3", files))
	if rate < 0.90 {
		t.Errorf("pass rate %.3f fell below 0.90", rate)
	}
}
