package finding

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Report is what an audit command prints: which audit ran, its findings and
// the rules it checked.
type Report struct {
	Tool     string    `json:"tool"`   // e.g. "gatehouse audit config"
	Target   string    `json:"target"` // the config file, URL or binary audited
	Findings []Finding `json:"findings"`
	Rules    []Rule    `json:"-"` // every rule checked (SARIF lists them)
	// Version is the gatehouse version that ran the audit (SARIF's
	// tool.driver.version); empty leaves it out.
	Version string `json:"-"`
}

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
)

var severityColour = map[Severity]string{
	Critical: "\x1b[1;97;41m", High: "\x1b[1;31m", Medium: "\x1b[33m", Low: "\x1b[36m", Info: "\x1b[2m",
}

// WriteText writes findings grouped by severity, worst first, with why and
// how to fix each; colour adds ANSI colours (for a terminal).
func WriteText(w io.Writer, r Report, colour bool) error {
	fs := append([]Finding(nil), r.Findings...)
	Sort(fs)
	paint := func(code, s string) string {
		if !colour {
			return s
		}
		return code + s + ansiReset
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", r.Tool, r.Target)
	for _, sev := range Severities() {
		var group []Finding
		for _, f := range fs {
			if f.Severity == sev {
				group = append(group, f)
			}
		}
		if len(group) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s\n", paint(severityColour[sev], fmt.Sprintf("%s (%d)", strings.ToUpper(sev.String()), len(group))))
		for _, f := range group {
			fmt.Fprintf(&b, "  %s %s\n", paint(ansiBold, f.ID), f.Title)
			if loc := f.Location.String(); loc != "" {
				fmt.Fprintf(&b, "    at:   %s\n", loc)
			}
			fmt.Fprintf(&b, "    what: %s\n", oneLine(f.Message))
			fmt.Fprintf(&b, "    why:  %s\n", oneLine(f.Why))
			fmt.Fprintf(&b, "    fix:  %s\n", oneLine(f.Fix))
		}
	}
	fmt.Fprintf(&b, "\n%s\n", Summary(fs))
	_, err := io.WriteString(w, b.String())
	return err
}

// oneLine keeps a field on one line, so a hostile value (a route name, a
// response header) cannot forge lines of the report.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// WriteJSON writes the report as one JSON document:
// {"tool", "target", "summary", "findings": [...]}.
func WriteJSON(w io.Writer, r Report) error {
	fs := append([]Finding{}, r.Findings...)
	Sort(fs)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Tool     string         `json:"tool"`
		Target   string         `json:"target"`
		Summary  map[string]int `json:"summary"`
		Findings []Finding      `json:"findings"`
	}{r.Tool, r.Target, CountsByName(fs), fs})
}
