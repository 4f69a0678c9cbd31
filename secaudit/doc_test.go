package secaudit

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
)

var update = flag.Bool("update", false, "rewrite the generated rule list of docs/audit.md")

const (
	rulesBegin = "<!-- rules:begin (generated from secaudit by go test ./secaudit -run TestAuditDoc -update) -->"
	rulesEnd   = "<!-- rules:end -->"
)

// renderRules is the rule list of docs/audit.md: one section per audit,
// one entry per rule with its severity, why, fix and references.
func renderRules() string {
	var b strings.Builder
	for _, part := range []struct {
		title string
		rules []finding.Rule
	}{{"gatehouse audit config", ConfigRules()}, {"gatehouse audit live", LiveRules()}, {"gatehouse audit deps", DepsRules()}} {
		fmt.Fprintf(&b, "\n### `%s` (%d rules)\n\n| Rule | Severity | Title |\n|---|---|---|\n", part.title, len(part.rules))
		for _, r := range part.rules {
			fmt.Fprintf(&b, "| [%s](#%s) | %s | %s |\n", r.ID, strings.ToLower(r.ID), r.Severity, r.Title)
		}
		for _, r := range part.rules {
			fmt.Fprintf(&b, "\n#### %s\n\n**%s** (%s). %s\n\n*Fix:* %s\n", r.ID, r.Title, r.Severity, r.Why, r.Fix)
			if len(r.Refs) > 0 {
				fmt.Fprintf(&b, "\n*Checks:* %s\n", strings.Join(r.Refs, ", "))
			}
		}
	}
	return b.String()
}

// docs/audit.md lists every rule as the code defines it.
func TestAuditDoc(t *testing.T) {
	const path = "../docs/audit.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), rulesBegin)
	_, after, ok2 := strings.Cut(rest, rulesEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s has no generated rule list between %q and %q", path, rulesBegin, rulesEnd)
	}
	want := before + rulesBegin + "\n" + renderRules() + "\n" + rulesEnd + after
	if want == string(doc) {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date with the rules: go test ./secaudit -run TestAuditDoc -update", path)
}
