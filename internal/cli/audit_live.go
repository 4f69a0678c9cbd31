package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/secaudit"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"github.com/spf13/cobra"
)

// Environment variables the live probe's credentials may come from, so
// that they need not be on the command line (where ps and shell history
// see them).
const (
	envAuditAPIKey   = "GATEHOUSE_AUDIT_API_KEY"
	envAuditToken    = "GATEHOUSE_AUDIT_TOKEN"
	envAuditOtherKey = "GATEHOUSE_AUDIT_OTHER_KEY"
)

func auditLiveCmd(stdout, stderr io.Writer) *cobra.Command {
	var out auditOutput
	var o secaudit.LiveOptions
	var apiKey, token, other, caFile string
	c := &cobra.Command{
		Use:   "live --url https://host:port [--api-key K] [--token T] [--as-other K2] [--object PATH]...",
		Short: "Probe a running gateway: TLS, headers, errors, JWT forgeries, path tricks, smuggling, limits, object access",
		Long: "An active, bounded black-box probe of a running gateway. It talks to the host and port of\n" +
			"--url only, never follows redirects, never fetches a URL on another host (the jku it forges\n" +
			"names a .invalid host nobody contacts), and stops after --budget requests (TLS handshakes\n" +
			"included), reporting which probes the budget left out.\n\n" +
			"Credentials: a value given as @FILE is read from that file (one line); an empty flag falls\n" +
			"back to " + envAuditAPIKey + ", " + envAuditToken + " and " + envAuditOtherKey + ".\n" +
			"They are never printed: findings say REDACTED. The probe sends the credentials in the URL\n" +
			"query once each to check they are refused (KEY-06); --no-query-credentials leaves that out.\n\n" +
			"With --api-key and --as-other (two principals) and --object paths the first principal owns,\n" +
			"the second must get 403 or 404 (GET, HEAD; with --destructive also PATCH {} and DELETE,\n" +
			"which a broken gateway would let through: use only on data you can lose).\n" +
			"Exit codes: 0 clean, 1 a finding at or above --fail-on, 2 usage, 3 the probe could not run.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(stderr); err != nil {
				return err
			}
			if o.URL == "" {
				fmt.Fprintln(stderr, "error: --url is required")
				return exitError{2}
			}
			var err error
			for _, c := range []struct {
				flag, env string
				val       *string
				dst       *string
			}{
				{"--api-key", envAuditAPIKey, &apiKey, &o.APIKey},
				{"--token", envAuditToken, &token, &o.Token},
				{"--as-other", envAuditOtherKey, &other, &o.OtherKey},
			} {
				if *c.dst, err = credential(*c.val, c.env); err != nil {
					fmt.Fprintf(stderr, "error: %s: %v\n", c.flag, err)
					return exitError{2}
				}
			}
			if caFile != "" {
				pem, err := os.ReadFile(caFile)
				if err != nil {
					fmt.Fprintln(stderr, "error: --ca-file:", err)
					return exitError{2}
				}
				o.RootCAs = x509.NewCertPool()
				if !o.RootCAs.AppendCertsFromPEM(pem) {
					fmt.Fprintf(stderr, "error: --ca-file %s: no PEM certificate in it\n", caFile)
					return exitError{2}
				}
			}
			fs, err := secaudit.Live(cmd.Context(), o)
			if err != nil {
				fmt.Fprintln(stderr, "error:", err)
				return exitError{3}
			}
			return out.write(stdout, finding.Report{Tool: "gatehouse audit live", Target: o.URL, Findings: fs, Rules: secaudit.LiveRules()})
		},
	}
	f := c.Flags()
	f.StringVar(&o.URL, "url", "", "the gateway's origin, https://host:port (its path is ignored)")
	f.StringVar(&apiKey, "api-key", "", "an API key of the first principal, or @FILE (default $"+envAuditAPIKey+")")
	f.StringVar(&o.APIKeyHeader, "api-key-header", "X-API-Key", "the header API keys are sent in")
	f.StringVar(&token, "token", "", "a bearer JWT of the first principal, or @FILE (default $"+envAuditToken+"); forged variants of it must be refused")
	f.StringVar(&other, "as-other", "", "an API key of a second principal, or @FILE (default $"+envAuditOtherKey+")")
	f.StringArrayVar(&o.Objects, "object", nil, "path of an object the first principal owns, e.g. /api/tenants/acme/orders/1 (repeatable)")
	f.StringVar(&o.AuthPath, "auth-path", "", "a GET route that needs authentication and takes the credentials (default: the first --object)")
	f.StringVar(&caFile, "ca-file", "", "PEM CA certificates the gateway's certificate must verify against (default: system roots)")
	f.IntVar(&o.Budget, "budget", 300, "the most requests to send, TLS handshakes included")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Second, "bound on each request")
	f.DurationVar(&o.MaxWait, "max-wait", 60*time.Second, "the longest to wait in total for Retry-After when rate limited (negative: never)")
	f.BoolVar(&o.Destructive, "destructive", false, "also send PATCH {} and DELETE to the objects as the second principal")
	f.BoolVar(&o.SkipQueryCredentials, "no-query-credentials", false, "do not send the credentials in the URL query (the target may log URLs)")
	out.flags(c)
	return c
}

// credential reads a credential flag: @FILE reads the file's first line,
// an empty value falls back to the environment variable env.
func credential(v, env string) (string, error) {
	if v == "" {
		v = os.Getenv(env)
	}
	name, ok := strings.CutPrefix(v, "@")
	if !ok {
		return v, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", errors.New(name + ": empty")
	}
	return line, nil
}
