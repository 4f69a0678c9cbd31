package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"github.com/spf13/cobra"
)

func demoCmd(stdout, stderr io.Writer) *cobra.Command {
	var s demo.Settings
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run the gateway in front of a built-in demo orders API",
		Long: "Starts, in one process, a demo orders API on a loopback port and the gateway in front\n" +
			"of it with a generated self-signed certificate, then prints curl commands to try.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			abs, err := filepath.Abs(s.DataDir)
			if err != nil {
				return err
			}
			s.DataDir = abs
			if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
				return fmt.Errorf("data dir: %w", err)
			}
			if err := os.Chmod(s.DataDir, 0o700); err != nil { // one made earlier, by hand (CFG-05)
				return fmt.Errorf("data dir: %w", err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return fmt.Errorf("demo upstream: %w", err)
			}
			up := &http.Server{Handler: demo.NewOrders(nil).Handler(), ReadHeaderTimeout: 5 * time.Second}
			go func() { _ = up.Serve(ln) }()
			defer up.Close()
			s.Upstream = "http://" + ln.Addr().String()

			s.SecretFile = filepath.Join(s.DataDir, "api-key-secret")
			if err := demo.EnsureSecret(s.SecretFile); err != nil {
				return fmt.Errorf("demo secret: %w", err)
			}
			s.PolicyFile = filepath.Join(s.DataDir, "demo.cedar")
			if _, err := os.Stat(s.PolicyFile); err != nil { // keep a user's edits
				if err := os.WriteFile(s.PolicyFile, []byte(demo.Policies), 0o600); err != nil {
					return fmt.Errorf("demo policies: %w", err)
				}
			}
			s.SchemaFile = filepath.Join(s.DataDir, "demo.cedarschema")
			if _, err := os.Stat(s.SchemaFile); err != nil { // keep a user's edits
				if err := os.WriteFile(s.SchemaFile, []byte(demo.PolicySchema), 0o600); err != nil {
					return fmt.Errorf("demo policy schema: %w", err)
				}
			}
			s.SpecFile = filepath.Join(s.DataDir, "orders.openapi.yaml")
			if _, err := os.Stat(s.SpecFile); err != nil { // keep a user's edits
				if err := os.WriteFile(s.SpecFile, []byte(demo.OpenAPI), 0o600); err != nil {
					return fmt.Errorf("demo OpenAPI document: %w", err)
				}
			}
			s.OAuthSecretFile = filepath.Join(s.DataDir, "oauth-signing-key-secret")
			if err := demo.EnsureSecret(s.OAuthSecretFile); err != nil {
				return fmt.Errorf("demo OAuth secret: %w", err)
			}
			path := filepath.Join(s.DataDir, "demo.yaml")
			if err := os.WriteFile(path, []byte(demo.Config(s)), 0o600); err != nil {
				return fmt.Errorf("demo config: %w", err)
			}
			cfg, err := gatehouse.LoadFile(path)
			if err != nil {
				fmt.Fprintln(stderr, err)
				return exitError{1}
			}
			keys, err := demoKeys(ctx, cfg, filepath.Join(s.DataDir, "demo-keys.json"))
			if err != nil {
				return err
			}
			client, err := demoClient(ctx, cfg, filepath.Join(s.DataDir, "demo-oauth-client.json"))
			if err != nil {
				return err
			}
			flow, err := demoCodeFlow(ctx, cfg, s.DataDir)
			if err != nil {
				return err
			}
			return server.Run(ctx, server.Options{
				Config: cfg, ConfigPath: path, Reload: sighup(ctx), LogOutput: stderr, Version: Version,
				OnReady: func(r server.Ready) {
					printDemo(stdout, path, r, keys, client)
					printCodeFlow(stdout, r, flow)
					fmt.Fprint(stdout, "\nStop with Ctrl-C (in-flight requests drain first).\n")
				},
			})
		},
	}
	f := c.Flags()
	f.StringVar(&s.Listen, "listen", "127.0.0.1:8443", "public HTTPS listener")
	f.StringVar(&s.HTTPListen, "http-listen", "127.0.0.1:8080", "plain-HTTP listener (refuses API calls, TLS-06); empty to disable")
	f.StringVar(&s.AdminListen, "admin-listen", "127.0.0.1:9443", "admin listener (health, metrics)")
	f.StringVar(&s.DataDir, "data-dir", "./gatehouse-data", "data directory (generated certificate, config)")
	return c
}

// demoKeys creates (once) and returns the demo's API keys.
func demoKeys(ctx context.Context, cfg *gatehouse.Config, path string) (demo.Keys, error) {
	st, err := server.OpenStore(ctx, cfg, true)
	if err != nil {
		return demo.Keys{}, err
	}
	defer st.Close()
	m, err := apikey.NewManager(apikey.Options{Store: st, ServerSecret: []byte(cfg.APIKeys.Secret.Value())})
	if err != nil {
		return demo.Keys{}, err
	}
	return demo.EnsureKeys(ctx, m, path)
}

// demoClient registers (once) and returns the demo's OAuth client.
func demoClient(ctx context.Context, cfg *gatehouse.Config, path string) (demo.Client, error) {
	st, err := server.OpenStore(ctx, cfg, true)
	if err != nil {
		return demo.Client{}, err
	}
	defer st.Close()
	return demo.EnsureClient(ctx, st, path)
}

// codeFlow is what the demo prints for the authorization code flow.
type codeFlow struct {
	user               demo.User
	redirect, verifier string
}

// demoCodeFlow makes (once) the demo user and the public client, and a
// PKCE verifier for this run.
func demoCodeFlow(ctx context.Context, cfg *gatehouse.Config, dir string) (codeFlow, error) {
	st, err := server.OpenStore(ctx, cfg, true)
	if err != nil {
		return codeFlow{}, err
	}
	defer st.Close()
	f := codeFlow{redirect: cfg.OAuth.Issuer + "/demo/callback"}
	if f.user, err = demo.EnsureUser(ctx, st, filepath.Join(dir, "demo-user.json")); err != nil {
		return f, err
	}
	if err := demo.EnsureSPA(ctx, st, f.redirect); err != nil {
		return f, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return f, err
	}
	f.verifier = base64.RawURLEncoding.EncodeToString(b)
	return f, nil
}

func printCodeFlow(w io.Writer, r server.Ready, f codeFlow) {
	sum := sha256.Sum256([]byte(f.verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {"demo-spa"}, "redirect_uri": {f.redirect}, "scope": {"orders:read"},
		"state": {"demo"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	pub := "https://" + r.PublicAddr
	fmt.Fprintf(w, `
  # OAuth authorization code with PKCE (a browser app, public client demo-spa): open this URL,
  # accept the self-signed certificate, sign in as %s / %s, and copy the code the callback shows
  %s/oauth2/authorize?%s
  CODE=...   # the code from the callback page, then, within 60 s:
  curl --cacert %s -s -d grant_type=authorization_code -d client_id=demo-spa -d code="$CODE" --data-urlencode redirect_uri=%s -d code_verifier=%s %s/oauth2/token; echo
`, f.user.Username, f.user.Password, pub, q.Encode(), r.CAFile, f.redirect, f.verifier, pub)
}

func printDemo(w io.Writer, path string, r server.Ready, k demo.Keys, client demo.Client) {
	ca := r.CAFile
	pub := "https://" + r.PublicAddr
	c := "curl --cacert " + ca
	fmt.Fprintf(w, `
Gatehouse demo is running.
  gateway   %[1]s   (self-signed; CA: %[2]s)
  admin     https://%[3]s   (health, readiness, metrics; loopback only)
  config    %[4]s   (edit it: routes hot-reload)
  API keys  %[5]s (created once; the store keeps only their HMAC)

Try it:
  # without a key: 401 problem with WWW-Authenticate; a mistyped key: 401 too
  %[6]s -i %[1]s/api/tenants/acme/orders
  %[6]s -i -H 'Authorization: Bearer gthk_000000000000_0000000000000000000000000000' %[1]s/api/tenants/acme/orders

  # alice (tenant acme) lists acme's orders (note X-Request-Id, HSTS, RateLimit headers, no Server banner)
  %[6]s -i -H 'Authorization: Bearer %[7]s' %[1]s/api/tenants/acme/orders

  # policies (Cedar, default deny): carol (globex) may not list acme's orders, nor read
  # acme's order 1 by its id (its tenant is fetched from the API); every tenant at once: admins only
  %[6]s -s -w ' %%{http_code}\n' -H 'X-API-Key: %[8]s' %[1]s/api/tenants/acme/orders
  %[6]s -s -w ' %%{http_code}\n' -H 'X-API-Key: %[8]s' %[1]s/api/orders/1
  %[6]s -s -w ' %%{http_code}\n' -H 'X-API-Key: %[7]s' %[1]s/api/orders
  %[6]s -s -w ' %%{http_code}\n' -H 'X-API-Key: %[9]s' %[1]s/api/orders

  # orders are created in the caller's tenant, owned by the caller: carol lacks orders:write (403),
  # alice may in acme (201), not in globex (403)
  %[6]s -i -H 'X-API-Key: %[8]s' -H 'Content-Type: application/json' -d '{"item":"tnt","quantity":3}' %[1]s/api/tenants/globex/orders
  %[6]s -i -H 'X-API-Key: %[7]s' -H 'Content-Type: application/json' -d '{"item":"tnt","quantity":3}' %[1]s/api/tenants/acme/orders
  %[6]s -s -o /dev/null -w '%%{http_code}\n' -H 'X-API-Key: %[7]s' -H 'Content-Type: application/json' -d '{"item":"tnt","quantity":3}' %[1]s/api/tenants/globex/orders
  # owners update their own orders: alice owns order 1 (200), not order 2 (403)
  %[6]s -s -o /dev/null -w '%%{http_code}\n' -X PATCH -H 'X-API-Key: %[7]s' -H 'Content-Type: application/json' -d '{"quantity":2}' %[1]s/api/tenants/acme/orders/1
  %[6]s -s -o /dev/null -w '%%{http_code}\n' -X PATCH -H 'X-API-Key: %[7]s' -H 'Content-Type: application/json' -d '{"quantity":2}' %[1]s/api/tenants/acme/orders/2
  # only the admin role deletes: alice 403, admin 204
  %[6]s -s -o /dev/null -w '%%{http_code}\n' -X DELETE -H 'X-API-Key: %[7]s' %[1]s/api/tenants/acme/orders/1
  %[6]s -s -o /dev/null -w '%%{http_code}\n' -X DELETE -H 'X-API-Key: %[9]s' %[1]s/api/tenants/acme/orders/1

  # the OpenAPI document is enforced: an undeclared field (mass assignment) and a wrong type get 400
  # problems listing each error (location, JSON pointer, reason); a wrong content type gets 415
  %[6]s -s -H 'X-API-Key: %[7]s' -H 'Content-Type: application/json' -d '{"item":"tnt","quantity":3,"owner":"bob"}' %[1]s/api/tenants/acme/orders; echo
  %[6]s -s -H 'X-API-Key: %[7]s' -H 'Content-Type: application/json' -d '{"item":"tnt","quantity":"three"}' %[1]s/api/tenants/acme/orders; echo
  %[6]s -s -o /dev/null -w '%%{http_code}\n' -H 'X-API-Key: %[7]s' -H 'Content-Type: text/plain' -d 'tnt' %[1]s/api/tenants/acme/orders

  # OAuth 2.0 client credentials: the built-in server issues a 10-minute JWT access token (EdDSA,
  # typ at+jwt) to the client of tenant acme; tenant-orders takes it as well as an API key. Metadata: %[1]s/.well-known/oauth-authorization-server
  TOKEN=$(%[6]s -s -u '%[10]s:%[11]s' -d grant_type=client_credentials -d scope=orders:read %[1]s/oauth2/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  %[6]s -s -w ' %%{http_code}\n' -H "Authorization: Bearer $TOKEN" %[1]s/api/tenants/acme/orders
  # revoke it (RFC 7009): the next call gets 401
  %[6]s -s -u '%[10]s:%[11]s' -d "token=$TOKEN" %[1]s/oauth2/revoke; %[6]s -s -o /dev/null -w '%%{http_code}\n' -H "Authorization: Bearer $TOKEN" %[1]s/api/tenants/acme/orders

  # a key in the URL is refused (and should be revoked)
  %[6]s -i '%[1]s/api/tenants/acme/orders?api_key=%[7]s'

  # no route: 404 problem+json, never proxied; path tricks normalised or refused
  %[6]s -i %[1]s/admin
  %[6]s -i --path-as-is -H 'X-API-Key: %[7]s' '%[1]s/api/tenants/globex/../acme/orders'
  %[6]s -i '%[1]s/api/orders%%2F1'

  # rate limit: 5 requests per 10s per client IP, then 429 with Retry-After
  for i in $(seq 1 7); do %[6]s -s -o /dev/null -w '%%{http_code} ' -H 'X-API-Key: %[7]s' %[1]s/api/tenants/acme/orders; done; echo

  # a body over the route's 16KiB limit: 413 problem
  head -c 20000 /dev/zero | %[6]s -i -H 'X-API-Key: %[7]s' -H 'Content-Type: application/json' --data-binary @- -X PUT %[1]s/api/orders/1

  # manage keys: on the command line, or through the admin API with the admin key
  go run ./cmd/gatehouse keys list --config %[4]s
  %[6]s -s -H 'Authorization: Bearer %[9]s' https://%[3]s/v1/keys?tenant=acme
  %[6]s -s -H 'Authorization: Bearer %[9]s' -d '{"owner":"erin","tenant":"acme","scopes":["orders:read"]}' https://%[3]s/v1/keys
`, pub, ca, r.AdminAddr, path, filepath.Join(filepath.Dir(path), "demo-keys.json"), c, k.Alice, k.Carol, k.Admin, client.ID, client.Secret)
	if r.HTTPAddr != "" {
		fmt.Fprintf(w, `
  # plain HTTP is refused for APIs (TLS-06)
  curl -i http://%s/api/orders
`, r.HTTPAddr)
	}
	fmt.Fprintf(w, `
  # metrics (admin listener only)
  curl -s --cacert %s https://%s/metrics | grep gatehouse_requests_total
`, ca, r.AdminAddr)
	summary := "not run"
	if r.Gateway != nil {
		summary = finding.Summary(r.Gateway.AuditFindings())
	}
	fmt.Fprintf(w, `
  # the security audit (docs/audit.md): this config (%[1]s), then a bounded probe of the
  # running gateway with two tenants' keys (alice must reach order 1, carol must not)
  go run ./cmd/gatehouse audit config --config %[2]s
  GATEHOUSE_AUDIT_API_KEY='%[3]s' GATEHOUSE_AUDIT_OTHER_KEY='%[4]s' go run ./cmd/gatehouse audit live --url %[5]s --ca-file %[6]s --object /api/orders/1 --object /api/tenants/acme/orders/1
  # its findings, as the gateway saw them at load
  %[7]s -s -H 'Authorization: Bearer %[8]s' https://%[9]s/v1/audit/findings
`, summary, path, k.Alice, k.Carol, pub, ca, c, k.Admin, r.AdminAddr)
}
