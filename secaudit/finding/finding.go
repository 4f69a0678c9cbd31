// Package finding is the shape every security-audit result takes: the
// config lint, the live probe and the dependency check all report
// Findings of Rules, and every output (text, JSON, SARIF) and the running
// gateway's own audit read the same type. It imports nothing of the
// project.
package finding

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Severity orders findings; a higher value is worse.
type Severity int

// The severities, lowest first.
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

// Severities lists every severity, worst first.
func Severities() []Severity { return []Severity{Critical, High, Medium, Low, Info} }

func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name (case-insensitive).
func ParseSeverity(v string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(v, n) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (one of critical, high, medium, low, info)", v)
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Rule is one check: a stable id (GH-<area>-<n>), how bad a finding of it
// is, and what to tell the reader.
type Rule struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	Why      string   `json:"why"` // why it matters
	Fix      string   `json:"fix"` // how to fix it
	// Refs are the requirement ids (docs/security.md) and outside
	// references (OWASP API Top 10) the rule checks.
	Refs []string `json:"refs,omitempty"`
}

// Location is where a finding is: a config file and line with the field
// path, or the URL a probe sent.
type Location struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"` // 1-based; 0 when unknown
	Path string `json:"path,omitempty"` // field path in the config, e.g. routes[2].auth
	URL  string `json:"url,omitempty"`  // the request of a live probe
}

func (l Location) String() string {
	var parts []string
	switch {
	case l.File != "" && l.Line > 0:
		parts = append(parts, fmt.Sprintf("%s:%d", l.File, l.Line))
	case l.File != "":
		parts = append(parts, l.File)
	}
	if l.Path != "" {
		parts = append(parts, l.Path)
	}
	if l.URL != "" {
		parts = append(parts, l.URL)
	}
	return strings.Join(parts, " ")
}

// Finding is one instance of a rule: the rule, what exactly was found and
// where.
type Finding struct {
	Rule
	Message  string   `json:"message"`
	Location Location `json:"location"`
}

// Sort orders findings worst first, then by rule id, file, line and message.
func Sort(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(b.Severity, a.Severity),
			compareIDs(a.ID, b.ID),
			cmp.Compare(a.Location.File, b.Location.File),
			cmp.Compare(a.Location.Line, b.Location.Line),
			cmp.Compare(a.Location.URL, b.Location.URL),
			cmp.Compare(a.Message, b.Message),
		)
	})
}

// compareIDs orders GH-AZ-2 before GH-AZ-10.
func compareIDs(a, b string) int {
	pa, na := splitID(a)
	pb, nb := splitID(b)
	return cmp.Or(cmp.Compare(pa, pb), cmp.Compare(na, nb), cmp.Compare(a, b))
}

func splitID(id string) (string, int) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return id, 0
	}
	n := 0
	for _, c := range id[i+1:] {
		if c < '0' || c > '9' {
			return id, 0
		}
		n = n*10 + int(c-'0')
	}
	return id[:i], n
}

// SortRules orders rules by id (area, then number).
func SortRules(rs []Rule) {
	slices.SortFunc(rs, func(a, b Rule) int { return compareIDs(a.ID, b.ID) })
}

// Counts returns how many findings there are of each severity.
func Counts(fs []Finding) map[Severity]int {
	n := map[Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	return n
}

// CountsByName returns the count of every severity, by name, zeros
// included: the summary of the JSON outputs.
func CountsByName(fs []Finding) map[string]int {
	n := Counts(fs)
	out := make(map[string]int, len(severityNames))
	for _, s := range Severities() {
		out[s.String()] = n[s]
	}
	return out
}

// AtLeast reports whether any finding is of severity min or worse.
func AtLeast(fs []Finding, min Severity) bool {
	return slices.ContainsFunc(fs, func(f Finding) bool { return f.Severity >= min })
}

// Summary is one line: "2 high, 1 low" or "no findings".
func Summary(fs []Finding) string {
	n := Counts(fs)
	var parts []string
	for _, s := range Severities() {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	if len(parts) == 0 {
		return "no findings"
	}
	return strings.Join(parts, ", ")
}
