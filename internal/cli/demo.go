package cli

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/server"
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
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return fmt.Errorf("demo upstream: %w", err)
			}
			up := &http.Server{Handler: demo.NewOrders(nil).Handler(), ReadHeaderTimeout: 5 * time.Second}
			go func() { _ = up.Serve(ln) }()
			defer up.Close()
			s.Upstream = "http://" + ln.Addr().String()

			path := filepath.Join(s.DataDir, "demo.yaml")
			if err := os.WriteFile(path, []byte(demo.Config(s)), 0o600); err != nil {
				return fmt.Errorf("demo config: %w", err)
			}
			cfg, err := gatehouse.LoadFile(path)
			if err != nil {
				fmt.Fprintln(stderr, err)
				return exitError{1}
			}
			return server.Run(ctx, server.Options{
				Config: cfg, ConfigPath: path, Reload: sighup(ctx), LogOutput: stderr, Version: Version,
				OnReady: func(r server.Ready) { printDemo(stdout, path, r) },
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

func printDemo(w io.Writer, path string, r server.Ready) {
	ca := r.CAFile
	pub := "https://" + r.PublicAddr
	fmt.Fprintf(w, `
Gatehouse demo is running.
  gateway   %s   (self-signed; CA: %s)
  admin     https://%s   (health, readiness, metrics; loopback only)
  config    %s   (edit it: routes hot-reload)

Try it:
  # list orders through the gateway (note X-Request-Id, HSTS, no Server banner)
  curl -i --cacert %s %s/api/orders

  # create an order
  curl -i --cacert %s -H 'Content-Type: application/json' \
       -d '{"tenant":"acme","owner":"alice","item":"tnt","quantity":3}' %s/api/orders

  # no route: 404 problem+json, never proxied
  curl -i --cacert %s %s/admin

  # path tricks are normalised or refused before matching
  curl -i --cacert %s --path-as-is '%s/api/x/../orders'
  curl -i --cacert %s '%s/api/orders%%2F1'

  # rate limit: 5 requests per 10s per client IP, then 429 with Retry-After
  for i in $(seq 1 7); do curl -s -o /dev/null -w '%%{http_code} ' --cacert %s %s/api/orders; done; echo
  curl -si --cacert %s %s/api/orders | grep -i -E '^(HTTP|ratelimit|retry-after)'

  # a body over the route's 16KiB limit: 413 problem
  head -c 20000 /dev/zero | curl -i --cacert %s -H 'Content-Type: application/json' --data-binary @- %s/api/orders/1 -X PUT
`, pub, ca, r.AdminAddr, path, ca, pub, ca, pub, ca, pub, ca, pub, ca, pub, ca, pub, ca, pub, ca, pub)
	if r.HTTPAddr != "" {
		fmt.Fprintf(w, `
  # plain HTTP is refused for APIs (TLS-06)
  curl -i http://%s/api/orders
`, r.HTTPAddr)
	}
	fmt.Fprintf(w, `
  # metrics (admin listener only)
  curl -s --cacert %s https://%s/metrics | grep gatehouse_requests_total

Stop with Ctrl-C (in-flight requests drain first).
`, ca, r.AdminAddr)
}
