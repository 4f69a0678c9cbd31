package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/admin"
	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/sqlstore"
	"github.com/spf13/cobra"
)

// AdminRole marks keys that may use the admin API (CFG-01).
const AdminRole = admin.AdminRole

type keysEnv struct {
	st  *sqlstore.Store
	m   *apikey.Manager
	cfg *gatehouse.Config
}

func openKeys(ctx context.Context, path string, stderr io.Writer) (*keysEnv, error) {
	cfg, err := loadConfig(path, stderr)
	if err != nil {
		return nil, err
	}
	if !cfg.APIKeys.Secret.IsSet() {
		fmt.Fprintln(stderr, "error: api_keys.secret is not set in", path)
		return nil, exitError{1}
	}
	st, err := server.OpenStore(ctx, cfg, true)
	if err != nil {
		return nil, err
	}
	m, err := apikey.NewManager(apikey.Options{Store: st, ServerSecret: []byte(cfg.APIKeys.Secret.Value()), Events: audit.SlogSink{Log: server.NewLogger(cfg.Log, stderr)}})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &keysEnv{st: st, m: m, cfg: cfg}, nil
}

// printJSON writes one value, or a list of several, indented.
func printJSON[T any](w io.Writer, vs []T) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if len(vs) == 1 {
		return enc.Encode(vs[0])
	}
	return enc.Encode(vs)
}

func printKeys(w io.Writer, asJSON bool, views ...apikey.View) error {
	if asJSON {
		return printJSON(w, views)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tOWNER\tTENANT\tSTATUS\tROLES\tSCOPES\tCREATED\tLAST USED")
	for _, v := range views {
		last := "never"
		if v.LastUsedAt != nil {
			last = v.LastUsedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Owner, v.Tenant, v.Status, strings.Join(v.Roles, ","), strings.Join(v.Scopes, ","), v.CreatedAt.Format(time.RFC3339), last)
	}
	return tw.Flush()
}

func keysCmd(stdout, stderr io.Writer) *cobra.Command {
	var path string
	var asJSON bool
	c := &cobra.Command{Use: "keys", Short: "Create, list, show, rotate and revoke API keys (talks to the store directly)"}
	c.PersistentFlags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	c.PersistentFlags().BoolVar(&asJSON, "json", false, "JSON output")
	with := func(fn func(ctx context.Context, e *keysEnv, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			e, err := openKeys(cmd.Context(), path, stderr)
			if err != nil {
				return err
			}
			defer e.st.Close()
			err = fn(cmd.Context(), e, args)
			if errors.Is(err, store.ErrNotFound) {
				fmt.Fprintln(stderr, "error: no such key")
				return exitError{1}
			}
			return err
		}
	}
	var o apikey.CreateOptions
	var admin bool
	var expires time.Duration
	create := &cobra.Command{Use: "create", Short: "Create a key and print it once", Args: cobra.NoArgs,
		RunE: with(func(ctx context.Context, e *keysEnv, _ []string) error {
			if admin {
				o.Roles = append(o.Roles, AdminRole)
				if o.Owner == "" {
					o.Owner = "admin"
				}
			}
			if expires > 0 {
				o.ExpiresAt = time.Now().Add(expires)
			}
			o.Actor = "cli"
			plain, rec, err := e.m.Create(ctx, o)
			if err != nil {
				return err
			}
			v := apikey.ViewOf(rec)
			v.Key = plain
			if asJSON {
				return printKeys(stdout, true, v)
			}
			fmt.Fprintf(stdout, "%s\n\nkey id %s (owner %s). The key is shown only now: store it in a secret manager.\n", plain, rec.ID, rec.Owner)
			return nil
		})}
	f := create.Flags()
	f.StringVar(&o.Name, "name", "", "a name for people")
	f.StringVar(&o.Owner, "owner", "", "the subject the key acts for (required unless --admin)")
	f.StringVar(&o.Tenant, "tenant", "", "tenant")
	f.StringSliceVar(&o.Roles, "role", nil, "role (repeat or comma-separate)")
	f.StringSliceVar(&o.Scopes, "scope", nil, "scope (repeat or comma-separate)")
	f.DurationVar(&expires, "expires-in", 0, "expiry, e.g. 2160h (default: none)")
	f.BoolVar(&admin, "admin", false, "add the "+AdminRole+" role (bootstrap the first admin key)")

	var filter store.KeyFilter
	list := &cobra.Command{Use: "list", Short: "List keys", Args: cobra.NoArgs,
		RunE: with(func(ctx context.Context, e *keysEnv, _ []string) error {
			ks, err := e.m.List(ctx, filter)
			if err != nil {
				return err
			}
			views := make([]apikey.View, len(ks))
			for i, k := range ks {
				views[i] = apikey.ViewOf(k)
			}
			if asJSON && len(views) == 1 {
				return json.NewEncoder(stdout).Encode(views) // a list stays a list
			}
			return printKeys(stdout, asJSON, views...)
		})}
	list.Flags().StringVar(&filter.Owner, "owner", "", "only this owner")
	list.Flags().StringVar(&filter.Tenant, "tenant", "", "only this tenant")
	list.Flags().StringVar(&filter.Status, "status", "", "only this status (active, rotated, revoked)")

	show := &cobra.Command{Use: "show ID", Short: "Show one key", Args: cobra.ExactArgs(1),
		RunE: with(func(ctx context.Context, e *keysEnv, args []string) error {
			k, err := e.m.Get(ctx, args[0])
			if err != nil {
				return err
			}
			return printKeys(stdout, asJSON, apikey.ViewOf(k))
		})}
	var grace time.Duration
	rotate := &cobra.Command{Use: "rotate ID", Short: "Create a successor; the old key keeps working for the grace period", Args: cobra.ExactArgs(1),
		RunE: with(func(ctx context.Context, e *keysEnv, args []string) error {
			if grace == 0 {
				grace = e.cfg.APIKeys.Grace.D()
			}
			plain, rec, err := e.m.Rotate(ctx, args[0], grace, "cli")
			if err != nil {
				return err
			}
			v := apikey.ViewOf(rec)
			v.Key = plain
			if asJSON {
				return printKeys(stdout, true, v)
			}
			fmt.Fprintf(stdout, "%s\n\nnew key id %s; %s keeps working until %s. The key is shown only now.\n", plain, rec.ID, args[0], time.Now().Add(grace).UTC().Format(time.RFC3339))
			return nil
		})}
	rotate.Flags().DurationVar(&grace, "grace", 0, "how long the old key keeps working (default api_keys.grace)")
	revoke := &cobra.Command{Use: "revoke ID", Short: "Revoke a key now", Args: cobra.ExactArgs(1),
		RunE: with(func(ctx context.Context, e *keysEnv, args []string) error {
			if err := e.m.Revoke(ctx, args[0], "cli"); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked %s\n", args[0])
			return nil
		})}
	c.AddCommand(create, list, show, rotate, revoke)
	return c
}

func migrateCmd(stdout, stderr io.Writer) *cobra.Command {
	var path string
	c := &cobra.Command{Use: "migrate", Short: "Apply or show database migrations"}
	c.PersistentFlags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	open := func(cmd *cobra.Command) (*sqlstore.Store, error) {
		cfg, err := loadConfig(path, stderr)
		if err != nil {
			return nil, err
		}
		return server.OpenStore(cmd.Context(), cfg, false)
	}
	up := &cobra.Command{Use: "up", Short: "Apply pending migrations", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		st, err := open(cmd)
		if err != nil {
			return err
		}
		defer st.Close()
		applied, err := st.Migrate(cmd.Context())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied %d migration(s) %v\n", len(applied), applied)
		return nil
	}}
	status := &cobra.Command{Use: "status", Short: "Show each migration and whether it is applied", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		st, err := open(cmd)
		if err != nil {
			return err
		}
		defer st.Close()
		lines, err := st.MigrationStatus(cmd.Context())
		if err != nil {
			return err
		}
		for _, l := range lines {
			fmt.Fprintln(stdout, l)
		}
		return nil
	}}
	c.AddCommand(up, status)
	return c
}
