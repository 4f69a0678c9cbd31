package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gatehouse-dev/gatehouse/secaudit"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"github.com/spf13/cobra"
)

// auditDepsCmd is "gatehouse audit deps": the modules compiled into a
// binary (this one by default) against the Go vulnerability database.
func auditDepsCmd(stdout, stderr io.Writer) *cobra.Command {
	var out auditOutput
	var o secaudit.DepsOptions
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "deps [--db file://DIR] [--binary PATH]",
		Short: "Check the modules compiled into this binary against the Go vulnerability database",
		Long: "Reads the build info and symbols of a Go binary (this gatehouse by default) and checks its\n" +
			"modules and Go release against the Go vulnerability database, with golang.org/x/vuln in\n" +
			"binary mode. --db file://DIR reads an offline copy (index/db.json, index/modules.json, ID/).\n" +
			"Rules: GH-DEP-1 (high) a vulnerable function of a module is in the binary; GH-DEP-2 (low) a\n" +
			"vulnerable package is, but not its vulnerable functions; GH-DEP-3 (high) a vulnerable function\n" +
			"of the Go standard library is; GH-DEP-4 (info) a module is at a vulnerable version, in a\n" +
			"package the binary does not contain. Binary mode cannot tell whether a present function is\n" +
			"reachable: govulncheck ./... on the source can. A database that cannot be read exits 3.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(stderr); err != nil {
				return err
			}
			target := o.Binary
			if target == "" {
				exe, err := os.Executable()
				if err != nil {
					fmt.Fprintln(stderr, "error: audit deps:", err)
					return exitError{3}
				}
				o.Binary, target = exe, exe
			}
			// x/vuln reads an https:// database with http.DefaultClient,
			// which has no timeout of its own: the context bounds it.
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			fs, err := secaudit.Deps(ctx, o)
			if err != nil {
				fmt.Fprintln(stderr, "error: audit deps:", err)
				return exitError{3}
			}
			return out.write(stdout, finding.Report{
				Tool:     "gatehouse audit deps",
				Target:   target,
				Findings: fs,
				Rules:    secaudit.DepsRules(),
			})
		},
	}
	c.Flags().StringVar(&o.DB, "db", secaudit.DefaultVulnDB, "vulnerability database: https://HOST or file://DIR (an offline copy)")
	c.Flags().StringVar(&o.Binary, "binary", "", "the Go binary to check (default: this gatehouse)")
	c.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up (exit 3) after this long")
	out.flags(c)
	return c
}
