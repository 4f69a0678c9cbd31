package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/secaudit"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"github.com/gatehouse-dev/gatehouse/store/sqlstore"
	"github.com/spf13/cobra"
)

func auditConfigCmd(stdout, stderr io.Writer) *cobra.Command {
	var path string
	var noStore bool
	var maxAdmin int
	var out auditOutput
	c := &cobra.Command{
		Use:   "config",
		Short: "Lint a config file, and the keys and clients of its store when it is reachable",
		Long: "Lint a config file: every rule (gatehouse audit rules, docs/audit.md) is checked against\n" +
			"the loaded config and the files it names (policies, OpenAPI documents, certificates, secret files).\n" +
			"The key and client rules read the store when it can be opened without creating it; --no-store skips them.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(stderr); err != nil {
				return err
			}
			cfg, err := loadConfig(path, stderr)
			if ee, ok := err.(exitError); ok && ee.code == 1 {
				return exitError{3} // a config that does not load is not audited
			} else if err != nil {
				return err
			}
			in := secaudit.ConfigInput{Config: cfg, MaxAdminKeys: maxAdmin}
			if !noStore {
				if st := openAuditStore(cmd.Context(), cfg, stderr); st != nil {
					defer st.Close()
					in.Keys, in.Clients = st, st
				}
			}
			fs := secaudit.Config(cmd.Context(), in)
			return out.write(stdout, finding.Report{Tool: "gatehouse audit config", Target: path, Findings: fs, Rules: secaudit.ConfigRules()})
		},
	}
	c.Flags().StringVar(&path, "config", "", "config file (required)")
	c.Flags().BoolVar(&noStore, "no-store", false, "do not read the store (skips the key and client rules)")
	c.Flags().IntVar(&maxAdmin, "max-admin-keys", 3, "active admin keys allowed before GH-KEY-4 reports")
	out.flags(c)
	return c
}

// openAuditStore opens the config's store for reading, or says on stderr
// why the store rules are skipped. An SQLite file that does not exist is
// not created.
func openAuditStore(ctx context.Context, cfg *gatehouse.Config, stderr io.Writer) *sqlstore.Store {
	if p, ok := strings.CutPrefix(cfg.Store, "sqlite://"); ok {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(stderr, "note: no database at %s: the key and client rules are skipped\n", p)
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := server.OpenStore(ctx, cfg, false)
	if err != nil {
		fmt.Fprintf(stderr, "note: the store cannot be opened (%v): the key and client rules are skipped\n", err)
		return nil
	}
	return st
}
