package finding

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// sarifSchema compiles the official SARIF 2.1.0 schema (testdata/README.md
// says where the copy comes from), with format assertions on.
func sarifSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateSARIF(t *testing.T, s *jsonschema.Schema, b []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return s.Validate(v)
}

var (
	ruleTLS   = Rule{ID: "GH-TLS-1", Severity: Critical, Title: "TLS below 1.2", Why: "old TLS is broken", Fix: "set tls.min_version: \"1.2\"", Refs: []string{"SEC-TLS-1", "OWASP API8:2023"}}
	ruleAuth  = Rule{ID: "GH-AUTH-2", Severity: High, Title: "Route without authentication", Why: "anyone can call it", Fix: "add auth"}
	ruleLive  = Rule{ID: "GH-LIVE-3", Severity: Medium, Title: "Missing HSTS", Why: "downgrade", Fix: "send Strict-Transport-Security"}
	ruleDep   = Rule{ID: "GH-DEP-2", Severity: Low, Title: "Vulnerable package compiled in", Why: "w", Fix: "upgrade"}
	ruleInfo  = Rule{ID: "GH-X-1", Severity: Info, Title: "Informational"}
	ruleOrphn = Rule{ID: "GH-ORPHAN-1", Severity: High, Title: "A rule only a finding carries", Why: "w", Fix: "f"}
)

func sampleReport() Report {
	return Report{
		Tool:    "gatehouse audit config",
		Target:  "configs/gatehouse.yaml",
		Version: "v1.2.3",
		Rules:   []Rule{ruleTLS, ruleAuth, ruleLive, ruleDep, ruleInfo, {ID: "GH-UNUSED-1", Severity: Low, Title: "Checked, nothing found"}},
		Findings: []Finding{
			{Rule: ruleTLS, Message: "tls.min_version is 1.0", Location: Location{File: "configs/gatehouse.yaml", Line: 4, Path: "tls.min_version"}},
			{Rule: ruleAuth, Message: "route \"a\" has no auth", Location: Location{File: "configs/gatehouse.yaml", Path: "routes[0].auth"}},
			{Rule: ruleAuth, Message: "route \"b\" has no auth", Location: Location{File: "/etc/gatehouse/other config.yaml", Line: 9}},
			{Rule: ruleLive, Message: "no HSTS header", Location: Location{URL: "https://api.example.test/v1/items?limit=1"}},
			{Rule: ruleLive, Message: "no HSTS header at the root", Location: Location{URL: "https://api.example.test"}},
			{Rule: ruleDep, Message: "GO-2099-0001 in example.test/mod@v1.0.0", Location: Location{URL: "https://pkg.go.dev/vuln/GO-2099-0001", Path: "example.test/mod@v1.0.0"}},
			{Rule: ruleInfo, Message: "fyi"},
			{Rule: ruleOrphn, Message: "orphan", Location: Location{Path: "listen"}},
		},
	}
}

func writeSARIF(t *testing.T, r Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSARIF(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSARIFValidatesAgainstSchema(t *testing.T) {
	s := sarifSchema(t)
	for _, tc := range []struct {
		name string
		r    Report
	}{
		{"findings of every kind of location", sampleReport()},
		{"no findings", Report{Tool: "gatehouse audit deps", Target: "/usr/local/bin/gatehouse", Rules: []Rule{ruleDep}}},
		{"nothing at all", Report{}},
		{"live probe target", Report{Tool: "gatehouse audit live", Target: "https://gw.example.test:8443/", Findings: []Finding{{Rule: ruleLive, Message: "m"}}}},
		{"binary target", Report{Tool: "gatehouse audit deps", Target: "bin/gatehouse", Findings: []Finding{{Rule: ruleDep, Message: "m"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := writeSARIF(t, tc.r)
			if err := validateSARIF(t, s, b); err != nil {
				t.Fatalf("invalid SARIF: %v\n%s", err, b)
			}
		})
	}
}

// The schema test must be able to fail: broken documents are refused.
func TestSARIFSchemaRefusesBrokenLogs(t *testing.T) {
	s := sarifSchema(t)
	good := writeSARIF(t, sampleReport())
	for _, tc := range []struct {
		name   string
		break_ func(m map[string]any)
	}{
		{"no version", func(m map[string]any) { delete(m, "version") }},
		{"version 2.0.0", func(m map[string]any) { m["version"] = "2.0.0" }},
		{"level severe", func(m map[string]any) { result(m, 0)["level"] = "severe" }},
		{"line 0", func(m map[string]any) {
			result(m, 0)["locations"].([]any)[0].(map[string]any)["physicalLocation"].(map[string]any)["region"] = map[string]any{"startLine": 0}
		}},
		{"no driver name", func(m map[string]any) {
			delete(m["runs"].([]any)[0].(map[string]any)["tool"].(map[string]any)["driver"].(map[string]any), "name")
		}},
		{"unknown top-level property", func(m map[string]any) { m["findings"] = []any{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(good, &m); err != nil {
				t.Fatal(err)
			}
			tc.break_(m)
			b, _ := json.Marshal(m)
			if err := validateSARIF(t, s, b); err == nil {
				t.Errorf("the schema accepted a broken log:\n%s", b)
			}
		})
	}
}

func result(m map[string]any, i int) map[string]any {
	return m["runs"].([]any)[0].(map[string]any)["results"].([]any)[i].(map[string]any)
}

// The parts of the log GitHub code scanning reads.
type sarifDoc struct {
	Schema  string `json:"$schema"`
	Version string
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name, InformationURI, Version string
				Rules                         []struct {
					ID, Name             string
					ShortDescription     sarifText
					FullDescription      sarifText
					Help                 sarifHelp
					DefaultConfiguration sarifConfig
					Properties           map[string]any
				}
			}
		}
		AutomationDetails  struct{ ID string }
		OriginalURIBaseIDs map[string]struct{ URI string }
		Results            []struct {
			RuleID    string
			RuleIndex int
			Level     string
			Message   sarifText
			Locations []struct {
				PhysicalLocation *struct {
					ArtifactLocation struct{ URI, URIBaseID string }
					Region           *struct{ StartLine int }
				}
				LogicalLocations []struct{ FullyQualifiedName string }
			}
			PartialFingerprints map[string]string
		}
	}
}

func TestSARIFContent(t *testing.T) {
	var d sarifDoc
	if err := json.Unmarshal(writeSARIF(t, sampleReport()), &d); err != nil {
		t.Fatal(err)
	}
	if d.Version != "2.1.0" || !strings.Contains(d.Schema, "sarif-schema-2.1.0.json") || len(d.Runs) != 1 {
		t.Fatalf("header: %q %q %d runs", d.Version, d.Schema, len(d.Runs))
	}
	run := d.Runs[0]
	drv := run.Tool.Driver
	if drv.Name != "gatehouse" || drv.Version != "v1.2.3" || drv.InformationURI == "" {
		t.Errorf("driver %+v", drv)
	}
	if run.AutomationDetails.ID != "gatehouse-audit-config/" {
		t.Errorf("category %q", run.AutomationDetails.ID)
	}
	var ids []string
	for _, r := range drv.Rules {
		ids = append(ids, r.ID)
	}
	if got := strings.Join(ids, " "); got != "GH-AUTH-2 GH-DEP-2 GH-LIVE-3 GH-ORPHAN-1 GH-TLS-1 GH-UNUSED-1 GH-X-1" {
		t.Errorf("rules %s", got)
	}
	wantScore := map[string]string{"GH-TLS-1": "9.5", "GH-AUTH-2": "8.0", "GH-LIVE-3": "5.5", "GH-DEP-2": "3.0", "GH-X-1": "0.0"}
	for _, r := range drv.Rules {
		if w, ok := wantScore[r.ID]; ok && r.Properties["security-severity"] != w {
			t.Errorf("%s security-severity %v, want %s", r.ID, r.Properties["security-severity"], w)
		}
		if r.ShortDescription.Text == "" || r.FullDescription.Text == "" || r.Help.Text == "" || r.Name == "" {
			t.Errorf("%s: an empty required text: %+v", r.ID, r)
		}
		if tags, _ := r.Properties["tags"].([]any); len(tags) == 0 || tags[0] != "security" {
			t.Errorf("%s tags %v", r.ID, r.Properties["tags"])
		}
	}
	if tls := drv.Rules[4]; tls.Name != "TLSBelow12" || tls.DefaultConfiguration.Level != "error" || !strings.Contains(tls.Help.Markdown, "SEC-TLS-1") {
		t.Errorf("TLS rule %+v", tls)
	}

	if len(run.Results) != 8 {
		t.Fatalf("%d results", len(run.Results))
	}
	wantLevel := map[string]string{"GH-TLS-1": "error", "GH-AUTH-2": "error", "GH-ORPHAN-1": "error", "GH-LIVE-3": "warning", "GH-DEP-2": "note", "GH-X-1": "note"}
	fps := map[string]bool{}
	for i, res := range run.Results {
		if drv.Rules[res.RuleIndex].ID != res.RuleID {
			t.Errorf("result %d: ruleIndex %d is %s, not %s", i, res.RuleIndex, drv.Rules[res.RuleIndex].ID, res.RuleID)
		}
		if res.Level != wantLevel[res.RuleID] {
			t.Errorf("result %d %s: level %s", i, res.RuleID, res.Level)
		}
		if len(res.Locations) != 1 {
			t.Errorf("result %d: %d locations, want 1", i, len(res.Locations))
		}
		fp := res.PartialFingerprints["primaryLocationLineHash"]
		if fp == "" || fps[fp] || res.PartialFingerprints[fingerprintKey] == "" {
			t.Errorf("result %d: fingerprint %q missing or not unique", i, fp)
		}
		fps[fp] = true
	}
	// Worst first: the critical TLS finding, on its line, relative to the source root.
	first := run.Results[0]
	pl := first.Locations[0].PhysicalLocation
	if first.RuleID != "GH-TLS-1" || pl == nil || pl.ArtifactLocation.URI != "configs/gatehouse.yaml" || pl.ArtifactLocation.URIBaseID != "%SRCROOT%" || pl.Region == nil || pl.Region.StartLine != 4 {
		t.Errorf("first result %+v / %+v", first, pl)
	}
	if ll := first.Locations[0].LogicalLocations; len(ll) != 1 || ll[0].FullyQualifiedName != "tls.min_version" {
		t.Errorf("logical location %+v", ll)
	}
	byMsg := map[string]*sarifPhysicalView{}
	for _, res := range run.Results {
		if p := res.Locations[0].PhysicalLocation; p != nil {
			v := &sarifPhysicalView{p.ArtifactLocation.URI, p.ArtifactLocation.URIBaseID, 0}
			if p.Region != nil {
				v.line = p.Region.StartLine
			}
			byMsg[res.Message.Text] = v
		}
	}
	for msg, want := range map[string]sarifPhysicalView{
		"route \"a\" has no auth":                 {"configs/gatehouse.yaml", "%SRCROOT%", 0},
		"route \"b\" has no auth":                 {"file:///etc/gatehouse/other%20config.yaml", "", 9},
		"no HSTS header":                          {"v1/items?limit=1", "WEB1", 0},
		"no HSTS header at the root":              {"./", "WEB1", 0},
		"GO-2099-0001 in example.test/mod@v1.0.0": {"vuln/GO-2099-0001", "WEB2", 0},
		"fyi": {"configs/gatehouse.yaml", "%SRCROOT%", 0}, // the audited target
	} {
		if got := byMsg[msg]; got == nil || *got != want {
			t.Errorf("%s: location %+v, want %+v", msg, got, want)
		}
	}
	if run.OriginalURIBaseIDs["WEB1"].URI != "https://api.example.test/" || run.OriginalURIBaseIDs["WEB2"].URI != "https://pkg.go.dev/" {
		t.Errorf("base ids %+v", run.OriginalURIBaseIDs)
	}
}

type sarifPhysicalView struct {
	uri, base string
	line      int
}

func TestSARIFDeterministic(t *testing.T) {
	r := sampleReport()
	want := writeSARIF(t, r)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		rng.Shuffle(len(r.Findings), func(i, j int) { r.Findings[i], r.Findings[j] = r.Findings[j], r.Findings[i] })
		rng.Shuffle(len(r.Rules), func(i, j int) { r.Rules[i], r.Rules[j] = r.Rules[j], r.Rules[i] })
		if got := writeSARIF(t, r); !bytes.Equal(got, want) {
			t.Fatalf("output depends on input order:\n%s\nvs\n%s", got, want)
		}
	}
	// A finding's fingerprint does not move with its line.
	a, b := sampleReport(), sampleReport()
	b.Findings[0].Location.Line = 40
	var da, db sarifDoc
	_ = json.Unmarshal(writeSARIF(t, a), &da)
	_ = json.Unmarshal(writeSARIF(t, b), &db)
	if da.Runs[0].Results[0].PartialFingerprints[fingerprintKey] != db.Runs[0].Results[0].PartialFingerprints[fingerprintKey] {
		t.Error("the fingerprint changed with the line")
	}
}
