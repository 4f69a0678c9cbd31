package finding

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSeverityRoundTrip(t *testing.T) {
	for _, s := range Severities() {
		got, err := ParseSeverity(strings.ToUpper(s.String()))
		if err != nil || got != s {
			t.Errorf("ParseSeverity(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Error("an unknown severity parsed")
	}
}

func TestSortAndSummary(t *testing.T) {
	fs := []Finding{
		{Rule: Rule{ID: "GH-AZ-10", Severity: High}},
		{Rule: Rule{ID: "GH-AZ-2", Severity: High}},
		{Rule: Rule{ID: "GH-TLS-1", Severity: Critical}},
		{Rule: Rule{ID: "GH-VAL-1", Severity: Low}},
	}
	Sort(fs)
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.ID)
	}
	if got := strings.Join(ids, " "); got != "GH-TLS-1 GH-AZ-2 GH-AZ-10 GH-VAL-1" {
		t.Errorf("order %s", got)
	}
	if got := Summary(fs); got != "1 critical, 2 high, 1 low" {
		t.Errorf("summary %q", got)
	}
	if !AtLeast(fs, Critical) || AtLeast(fs[3:], Medium) {
		t.Error("AtLeast")
	}
	if Summary(nil) != "no findings" {
		t.Error("empty summary")
	}
}

func TestTextKeepsFieldsOnOneLine(t *testing.T) {
	var b bytes.Buffer
	r := Report{Tool: "t", Target: "x", Findings: []Finding{{Rule: Rule{ID: "GH-X-1", Severity: High, Title: "t", Why: "w", Fix: "f"}, Message: "route \"a\nGH-FAKE-1 forged\""}}}
	if err := WriteText(&b, r, false); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "GH-FAKE") {
			t.Errorf("a message forged a line:\n%s", b.String())
		}
	}
	if !strings.Contains(b.String(), "HIGH (1)") {
		t.Errorf("no severity group:\n%s", b.String())
	}
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	r := Report{Tool: "t", Target: "x", Findings: []Finding{{Rule: Rule{ID: "GH-X-1", Severity: Medium}, Location: Location{File: "g.yaml", Line: 3}}}}
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Summary  map[string]int
		Findings []Finding
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Summary["medium"] != 1 || len(got.Findings) != 1 || got.Findings[0].Severity != Medium || got.Findings[0].Location.Line != 3 {
		t.Errorf("round trip: %+v", got)
	}
}
