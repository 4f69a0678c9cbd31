package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/certs"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// pebble starts a real ACME server (Pebble, in process) whose validation
// authority checks challenges on the given ports of localhost. It returns
// the directory URL, a PEM file trusted for its own HTTPS, and the root
// that signs the certificates it issues.
func pebble(t *testing.T, httpPort, tlsPort int) (dir, caRootFile string, issuedRoot *x509.CertPool) {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logger := log.New(io.Discard, "", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, httpPort, tlsPort, false, "", store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 1, 1)

	ss, err := certs.EnsureSelfSigned(t.TempDir(), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fs, err := certs.NewFileSource(ss.CertFile, ss.KeyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(front.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*fs.Certificate()}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(authority.GetRootCert(0).PEM()) {
		t.Fatal("pebble root")
	}
	return srv.URL + wfe.DirectoryPath, ss.CAFile, pool
}

// The gateway obtains a certificate from a real ACME server, over each
// challenge type, and serves it.
func TestACMEWithPebble(t *testing.T) {
	for _, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) {
			httpPort, tlsPort := freePort(t), freePort(t)
			dirURL, caRoot, issuedRoot := pebble(t, httpPort, tlsPort)
			data := t.TempDir()
			src := fmt.Sprintf(`
data_dir: %q
listen:
  address: "127.0.0.1:%d"
  tls:
    acme:
      domains: [localhost]
      email: ops@example.com
      ca: %q
      ca_root: %q
      challenges: [%s]
      agree_tos: true
      alt_http_port: %d
      alt_tls_alpn_port: %d
http: {address: "127.0.0.1:%d"}
admin: {address: "127.0.0.1:0"}
`, data, tlsPort, dirURL, caRoot, challenge, httpPort, tlsPort, httpPort)
			cfg, err := gatehouse.Parse("acme.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			readyc := make(chan Ready, 1)
			go func() {
				done <- Run(ctx, Options{Config: cfg, LogOutput: io.Discard, OnReady: func(r Ready) { readyc <- r }})
			}()
			defer func() { cancel(); <-done }()
			var rd Ready
			select {
			case rd = <-readyc:
			case err := <-done:
				t.Fatal(err)
			case <-time.After(20 * time.Second):
				t.Fatal("gateway did not start")
			}
			select {
			case err := <-rd.CertReady:
				if err != nil {
					t.Fatalf("ACME: %v", err)
				}
			case <-time.After(90 * time.Second):
				t.Fatal("no certificate within 90s")
			}
			conn, err := tls.Dial("tcp", rd.PublicAddr, &tls.Config{ServerName: "localhost", RootCAs: issuedRoot})
			if err != nil {
				t.Fatalf("handshake with the ACME certificate: %v", err)
			}
			leaf := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			if leaf.VerifyHostname("localhost") != nil {
				t.Errorf("certificate does not cover localhost: %v", leaf.DNSNames)
			}
			if _, err := os.Stat(filepath.Join(data, "acme")); err != nil {
				t.Errorf("ACME state not stored under the data dir: %v", err)
			}
		})
	}
}
