package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/admin"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/revocation"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/spf13/cobra"
)

// tokensCmd revokes JWT access tokens (one by jti, or all of a subject)
// through the store; every running instance applies it within a second.
func tokensCmd(stdout, stderr io.Writer) *cobra.Command {
	var path string
	var asJSON bool
	c := &cobra.Command{Use: "tokens", Short: "Revoke JWT access tokens by jti or subject, and list revocations (talks to the store directly)"}
	c.PersistentFlags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	c.PersistentFlags().BoolVar(&asJSON, "json", false, "JSON output")
	open := func(ctx context.Context) (*revocation.List, func(), error) {
		cfg, err := loadConfig(path, stderr)
		if err != nil {
			return nil, nil, err
		}
		st, err := server.OpenStore(ctx, cfg, true)
		if err != nil {
			return nil, nil, err
		}
		return revocation.New(st, nil), func() { st.Close() }, nil
	}
	var issuer, jti, subject, reason string
	var forDur time.Duration
	revoke := &cobra.Command{
		Use:   "revoke --issuer ISS (--jti JTI | --subject SUB)",
		Short: "Revoke one token (--jti) or every token of a user or client (--subject)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if issuer == "" || (jti == "") == (subject == "") {
				return errors.New("give --issuer and exactly one of --jti and --subject")
			}
			if forDur <= 0 {
				return errors.New("--for must be positive")
			}
			l, done, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			now := time.Now()
			r := &store.RevokedToken{Issuer: issuer, JTI: jti, Subject: subject, Until: now.Add(forDur), CreatedAt: now, Actor: "cli", Reason: reason}
			if err := l.Revoke(cmd.Context(), r); err != nil {
				return err
			}
			return printRevocations(stdout, asJSON, r)
		},
	}
	f := revoke.Flags()
	f.StringVar(&issuer, "issuer", "", "the tokens' iss")
	f.StringVar(&jti, "jti", "", "the token's jti")
	f.StringVar(&subject, "subject", "", "revoke every token of this subject")
	f.StringVar(&reason, "reason", "", "why (kept with the revocation)")
	f.DurationVar(&forDur, "for", admin.DefaultRevocationFor, "how long the revocation lasts (longer than the tokens' lifetime)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the revocations in force",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, done, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			rs, err := l.List(cmd.Context())
			if err != nil {
				return err
			}
			return printRevocations(stdout, asJSON, rs...)
		},
	}
	c.AddCommand(revoke, list)
	return c
}

func printRevocations(w io.Writer, asJSON bool, rs ...*store.RevokedToken) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rs)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ISSUER\tJTI\tSUBJECT\tUNTIL\tBY\tREASON")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Issuer, r.JTI, r.Subject, r.Until.UTC().Format(time.RFC3339), r.Actor, r.Reason)
	}
	return tw.Flush()
}
