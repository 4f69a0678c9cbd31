package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn/jwt"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/sqlstore"
	"github.com/spf13/cobra"
)

func printClients(w io.Writer, asJSON bool, vs ...oauth.ClientView) error {
	if asJSON {
		return printJSON(w, vs)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tGRANTS\tSCOPES\tAUDIENCES\tTENANT\tDISABLED")
	for _, v := range vs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", v.ID, v.Name, strings.Join(v.Grants, ","), strings.Join(v.Scopes, ","), strings.Join(v.Audiences, ","), v.Tenant, v.Disabled)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, v := range vs {
		if v.Secret != "" {
			fmt.Fprintf(w, "\nclient_secret of %s (shown only now; the store keeps its hash):\n%s\n", v.ID, v.Secret)
		}
	}
	return nil
}

// storeCmd opens the config's store for a subcommand.
func withStore(path *string, stderr io.Writer, fn func(ctx context.Context, st *sqlstore.Store, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cfg, err := loadConfig(*path, stderr)
		if err != nil {
			return err
		}
		st, err := server.OpenStore(cmd.Context(), cfg, true)
		if err != nil {
			return err
		}
		defer st.Close()
		return fn(cmd.Context(), st, args)
	}
}

func clientsCmd(stdout, stderr io.Writer) *cobra.Command {
	var path string
	var asJSON bool
	c := &cobra.Command{Use: "clients", Short: "Register and manage clients of the built-in OAuth server (talks to the store directly)"}
	c.PersistentFlags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	c.PersistentFlags().BoolVar(&asJSON, "json", false, "JSON output")
	var o oauth.ClientOptions
	create := &cobra.Command{
		Use: "create", Short: "Register a confidential client (client_credentials); prints its secret once", Args: cobra.NoArgs,
		RunE: withStore(&path, stderr, func(ctx context.Context, st *sqlstore.Store, _ []string) error {
			cl, secret, err := oauth.CreateClient(ctx, st, o, time.Now())
			if err != nil {
				return err
			}
			v := oauth.ViewClient(cl)
			v.Secret = secret
			return printClients(stdout, asJSON, v)
		}),
	}
	f := create.Flags()
	f.StringVar(&o.ID, "id", "", "client id (default: generated)")
	f.StringVar(&o.Name, "name", "", "a name for people")
	f.StringSliceVar(&o.Scopes, "scope", nil, "a scope it may be granted (repeat)")
	f.StringSliceVar(&o.Audiences, "audience", nil, "a resource it may get tokens for (repeat; the first is the default)")
	f.StringSliceVar(&o.Roles, "role", nil, "a role put into its tokens (repeat)")
	f.StringVar(&o.Tenant, "tenant", "", "tenant put into its tokens")
	f.BoolVar(&o.Public, "public", false, "a public client (browser or mobile app): no secret, authorization_code with PKCE")
	f.StringSliceVar(&o.RedirectURIs, "redirect-uri", nil, "an exact redirect URI for the code flow (repeat)")
	f.StringSliceVar(&o.Grants, "grant", nil, "client_credentials and/or authorization_code (default: from --public and --redirect-uri)")
	list := &cobra.Command{
		Use: "list", Short: "List clients", Args: cobra.NoArgs,
		RunE: withStore(&path, stderr, func(ctx context.Context, st *sqlstore.Store, _ []string) error {
			cs, err := st.ListClients(ctx)
			if err != nil {
				return err
			}
			vs := make([]oauth.ClientView, len(cs))
			for i, cl := range cs {
				vs[i] = oauth.ViewClient(cl)
			}
			return printClients(stdout, asJSON, vs...)
		}),
	}
	show := &cobra.Command{
		Use: "show ID", Short: "Show one client", Args: cobra.ExactArgs(1),
		RunE: withStore(&path, stderr, func(ctx context.Context, st *sqlstore.Store, args []string) error {
			cl, err := st.GetClient(ctx, args[0])
			if err != nil {
				return err
			}
			return printClients(stdout, asJSON, oauth.ViewClient(cl))
		}),
	}
	rotate := &cobra.Command{
		Use: "rotate-secret ID", Short: "Give a client a new secret; the old one stops at once", Args: cobra.ExactArgs(1),
		RunE: withStore(&path, stderr, func(ctx context.Context, st *sqlstore.Store, args []string) error {
			secret, err := oauth.RotateSecret(ctx, st, args[0], time.Now())
			if err != nil {
				return err
			}
			cl, err := st.GetClient(ctx, args[0])
			if err != nil {
				return err
			}
			v := oauth.ViewClient(cl)
			v.Secret = secret
			return printClients(stdout, asJSON, v)
		}),
	}
	var enable bool
	disable := &cobra.Command{
		Use: "disable ID", Short: "Stop a client from getting tokens (--enable to undo)", Args: cobra.ExactArgs(1),
		RunE: withStore(&path, stderr, func(ctx context.Context, st *sqlstore.Store, args []string) error {
			cl, err := st.UpdateClient(ctx, args[0], func(c *store.OAuthClient) error { c.Disabled, c.UpdatedAt = !enable, time.Now(); return nil })
			if err != nil {
				return err
			}
			return printClients(stdout, asJSON, oauth.ViewClient(cl))
		}),
	}
	disable.Flags().BoolVar(&enable, "enable", false, "enable the client again")
	del := &cobra.Command{
		Use: "delete ID", Short: "Delete a client (its tokens still work until they expire; revoke them with 'tokens revoke --subject')", Args: cobra.ExactArgs(1),
		RunE: withStore(&path, stderr, func(ctx context.Context, st *sqlstore.Store, args []string) error {
			if err := st.DeleteClient(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deleted %s\n", args[0])
			return nil
		}),
	}
	c.AddCommand(create, list, show, rotate, disable, del)
	return c
}

func signingKeysCmd(stdout, stderr io.Writer) *cobra.Command {
	var path string
	c := &cobra.Command{Use: "signing-keys", Short: "List and rotate the built-in OAuth server's signing keys"}
	c.PersistentFlags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	ring := func(st *sqlstore.Store) (*oauth.KeyRing, time.Duration, error) {
		cfg, err := loadConfig(path, stderr)
		if err != nil {
			return nil, 0, err
		}
		if cfg.OAuth == nil {
			return nil, 0, errors.New("the config has no oauth block")
		}
		retention := cfg.OAuth.AccessTokenTTL.D() + jwt.MaxLeeway
		k, err := oauth.NewKeyRing(st, []byte(cfg.OAuth.SigningKeySecret.Value()), retention, nil)
		if err != nil {
			return nil, 0, err
		}
		return k, retention, k.UseAlgorithm(cfg.OAuth.Algorithm)
	}
	rotate := &cobra.Command{
		Use: "rotate", Short: "Make a new signing key; the old one keeps verifying for the token lifetime", Args: cobra.NoArgs,
		RunE: withStore(&path, stderr, func(ctx context.Context, st *sqlstore.Store, _ []string) error {
			k, _, err := ring(st)
			if err != nil {
				return err
			}
			id, err := k.Rotate(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "new signing key %s; running instances use it within 30 s\n", id)
			return nil
		}),
	}
	list := &cobra.Command{
		Use: "list", Short: "List the signing keys that still verify", Args: cobra.NoArgs,
		RunE: withStore(&path, stderr, func(ctx context.Context, st *sqlstore.Store, _ []string) error {
			_, retention, err := ring(st)
			if err != nil {
				return err
			}
			keys, err := st.SigningKeys(ctx, time.Now().Add(-retention))
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KID\tALG\tCREATED\tSTATE")
			for _, k := range keys {
				state := "signing"
				if !k.RetiredAt.IsZero() {
					state = "retired " + k.RetiredAt.Format(time.RFC3339) + " (verifies only)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Alg, k.CreatedAt.Format(time.RFC3339), state)
			}
			return tw.Flush()
		}),
	}
	c.AddCommand(rotate, list)
	return c
}

func usersCmd(stdout, stderr io.Writer) *cobra.Command {
	var path string
	var stdin io.Reader
	c := &cobra.Command{Use: "users", Short: "Create and manage users of the built-in OAuth server (passwords are argon2id-hashed)",
		PersistentPreRun: func(cmd *cobra.Command, _ []string) { stdin = cmd.InOrStdin() }}
	c.PersistentFlags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	readPassword := func() (string, error) {
		b, err := io.ReadAll(io.LimitReader(stdin, 4*oauth.MaxPasswordLen+2))
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	var o oauth.UserOptions
	create := &cobra.Command{
		Use: "create --username NAME < password", Short: "Create a user; the password is read from standard input, never from a flag", Args: cobra.NoArgs,
		RunE: withStore(&path, stderr, func(ctx context.Context, st *sqlstore.Store, _ []string) error {
			pw, err := readPassword()
			if err != nil {
				return err
			}
			o.Password = pw
			u, err := oauth.CreateUser(ctx, st, o, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "created user %s (%s)\n", u.Username, u.ID)
			return nil
		}),
	}
	create.Flags().StringVar(&o.Username, "username", "", "user name (lower case)")
	create.Flags().StringSliceVar(&o.Roles, "role", nil, "a role (repeat)")
	create.Flags().StringVar(&o.Tenant, "tenant", "", "tenant")
	byName := func(ctx context.Context, st *sqlstore.Store, name string) (*store.User, error) {
		return st.GetUserByName(ctx, strings.ToLower(name))
	}
	setPassword := &cobra.Command{
		Use: "set-password NAME < password", Short: "Replace a user's password (read from standard input)", Args: cobra.ExactArgs(1),
		RunE: withStore(&path, stderr, func(ctx context.Context, st *sqlstore.Store, args []string) error {
			u, err := byName(ctx, st, args[0])
			if err != nil {
				return err
			}
			pw, err := readPassword()
			if err != nil {
				return err
			}
			if err := oauth.SetPassword(ctx, st, u.ID, pw, time.Now()); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "password of %s replaced\n", u.Username)
			return nil
		}),
	}
	var enable bool
	disable := &cobra.Command{
		Use: "disable NAME", Short: "Stop a user from signing in (--enable to undo)", Args: cobra.ExactArgs(1),
		RunE: withStore(&path, stderr, func(ctx context.Context, st *sqlstore.Store, args []string) error {
			u, err := byName(ctx, st, args[0])
			if err != nil {
				return err
			}
			if _, err := st.UpdateUser(ctx, u.ID, func(u *store.User) error { u.Disabled, u.UpdatedAt = !enable, time.Now(); return nil }); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s disabled=%v\n", u.Username, !enable)
			return nil
		}),
	}
	disable.Flags().BoolVar(&enable, "enable", false, "enable the user again")
	list := &cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: withStore(&path, stderr, func(ctx context.Context, st *sqlstore.Store, _ []string) error {
			us, err := st.ListUsers(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tID\tTENANT\tROLES\tDISABLED")
			for _, u := range us {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", u.Username, u.ID, u.Tenant, strings.Join(u.Roles, ","), u.Disabled)
			}
			return tw.Flush()
		}),
	}
	c.AddCommand(create, setPassword, disable, list)
	return c
}
