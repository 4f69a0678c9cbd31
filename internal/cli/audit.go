package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/gatehouse-dev/gatehouse/secaudit"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// auditCmd groups the three audits: the config lint, the live probe and the
// dependency check. They share the finding format and the output flags.
func auditCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Security audits: lint a config, probe a running gateway, check dependencies",
		Long: "Security audits, in one finding format (rule id, severity, title, why, fix, location).\n" +
			"  audit config  lints a config file (and the store, when it is reachable)\n" +
			"  audit live    probes a running gateway, within a request budget, on the given host only\n" +
			"  audit deps    checks the modules compiled into this binary against the Go vulnerability database\n" +
			"Output: --format text (default; colour on a terminal), json or sarif. --fail-on SEVERITY\n" +
			"sets the exit code: 1 when any finding is that severe or worse (default high), 0 otherwise;\n" +
			"2 is a usage error, 3 an audit that could not run.",
	}
	c.AddCommand(auditConfigCmd(stdout, stderr), auditLiveCmd(stdout, stderr), auditDepsCmd(stdout, stderr), auditRulesCmd(stdout))
	return c
}

// auditOutput is the output flags every audit command takes.
type auditOutput struct {
	format string
	failOn string
	out    string
	ignore []string
}

func (o *auditOutput) flags(c *cobra.Command) {
	c.Flags().StringVar(&o.format, "format", "text", "text, json or sarif")
	c.Flags().StringVar(&o.failOn, "fail-on", "high", "exit 1 when a finding is this severe or worse: critical, high, medium, low, info, or none")
	c.Flags().StringVarP(&o.out, "output", "o", "", "write the report to this file instead of standard output")
	c.Flags().StringSliceVar(&o.ignore, "ignore", nil, "rule ids whose findings are left out (repeatable, or comma-separated), e.g. GH-TLS-3 for a deliberate self-signed certificate")
}

// check validates the flags before an audit runs.
func (o *auditOutput) check(stderr io.Writer) error {
	switch o.format {
	case "text", "json", "sarif":
	default:
		fmt.Fprintf(stderr, "error: --format %q: one of text, json, sarif\n", o.format)
		return exitError{2}
	}
	if o.failOn != "none" {
		if _, err := finding.ParseSeverity(o.failOn); err != nil {
			fmt.Fprintln(stderr, "error: --fail-on:", err)
			return exitError{2}
		}
	}
	known := map[string]bool{}
	for _, r := range secaudit.Rules() {
		known[r.ID] = true
	}
	for _, id := range o.ignore {
		if !known[id] {
			fmt.Fprintf(stderr, "error: --ignore %s: no such rule (gatehouse audit rules lists them)\n", id)
			return exitError{2}
		}
	}
	return nil
}

// write prints the report and turns --fail-on into the exit code.
func (o *auditOutput) write(stdout io.Writer, r finding.Report) error {
	w := stdout
	colour := false
	if o.out != "" {
		f, err := os.OpenFile(o.out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	} else if f, ok := stdout.(*os.File); ok && os.Getenv("NO_COLOR") == "" {
		colour = isatty.IsTerminal(f.Fd())
	}
	if len(o.ignore) > 0 {
		r.Findings = slices.DeleteFunc(slices.Clone(r.Findings), func(f finding.Finding) bool { return slices.Contains(o.ignore, f.ID) })
	}
	var err error
	switch o.format {
	case "json":
		err = finding.WriteJSON(w, r)
	case "sarif":
		if r.Version == "" {
			r.Version = Version
		}
		err = finding.WriteSARIF(w, r)
	default:
		err = finding.WriteText(w, r, colour)
	}
	if err != nil {
		return err
	}
	if o.failOn == "none" {
		return nil
	}
	min, _ := finding.ParseSeverity(o.failOn)
	if finding.AtLeast(r.Findings, min) {
		return exitError{1}
	}
	return nil
}

// auditRulesCmd lists every rule of the three audits.
func auditRulesCmd(stdout io.Writer) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "rules",
		Short: "List every audit rule: id, severity, title (--format json: with why, fix and references)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			rules := secaudit.Rules()
			if format == "json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rules)
			}
			for _, r := range rules {
				fmt.Fprintf(stdout, "%-10s %-8s %s\n", r.ID, r.Severity, r.Title)
			}
			return nil
		},
	}
	c.Flags().StringVar(&format, "format", "text", "text or json")
	return c
}
