package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// serve runs a TLS server with cfg on loopback that answers each handshake
// and reports the negotiated state.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if err := c.(*tls.Conn).Handshake(); err == nil {
					_, _ = io.WriteString(c, "ok")
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func devServer(t *testing.T, profile string) (addr string, roots *x509.CertPool) {
	t.Helper()
	ss, err := EnsureSelfSigned(t.TempDir(), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fs, err := NewFileSource(ss.CertFile, ss.KeyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ServerConfig(profile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.GetCertificate = fs.GetCertificate
	pool, err := LoadCARoots(ss.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, cfg), pool
}

func handshake(addr string, c *tls.Config) (tls.ConnectionState, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	b := make([]byte, 2)
	if _, err := io.ReadFull(conn, b); err != nil {
		return tls.ConnectionState{}, err
	}
	return conn.ConnectionState(), nil
}

// TLS-01, TLS-02, TLS-03 with real handshakes.
func TestIntermediateProfile(t *testing.T) {
	addr, roots := devServer(t, Intermediate)
	client := func(mod func(*tls.Config)) *tls.Config {
		c := &tls.Config{RootCAs: roots, ServerName: "localhost"}
		mod(c)
		return c
	}
	tests := []struct {
		name    string
		cfg     *tls.Config
		wantErr bool
		check   func(tls.ConnectionState) error
	}{
		{"TLS 1.3 default", client(func(*tls.Config) {}), false, func(s tls.ConnectionState) error {
			if s.Version != tls.VersionTLS13 {
				return errors.New("not TLS 1.3")
			}
			if s.CurveID != tls.X25519MLKEM768 {
				return errors.New("hybrid post-quantum group not preferred: " + s.CurveID.String())
			}
			return nil
		}},
		{"TLS 1.2 ECDHE AEAD", client(func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }), false, func(s tls.ConnectionState) error {
			for _, id := range IntermediateSuites {
				if s.CipherSuite == id {
					return nil
				}
			}
			return errors.New("suite outside the allowlist: " + tls.CipherSuiteName(s.CipherSuite))
		}},
		{"TLS 1.1 refused", client(func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }), true, nil},
		{"TLS 1.0 refused", client(func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS10 }), true, nil},
		{"CBC-only client refused", client(func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}
		}), true, nil},
		{"RSA key exchange refused", client(func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}
		}), true, nil},
		{"X25519 only", client(func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.X25519} }), false, nil},
		{"P-384 only", client(func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP384} }), false, nil},
		{"P-521 only refused", client(func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP521} }), true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := handshake(addr, tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("handshake err = %v, want error %v", err, tc.wantErr)
			}
			if tc.check != nil && err == nil {
				if err := tc.check(st); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestModernProfile(t *testing.T) {
	addr, roots := devServer(t, Modern)
	if _, err := handshake(addr, &tls.Config{RootCAs: roots, ServerName: "localhost", MaxVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("modern profile accepted TLS 1.2")
	}
	st, err := handshake(addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil || st.Version != tls.VersionTLS13 {
		t.Fatalf("TLS 1.3: %v %x", err, st.Version)
	}
}

func TestUnknownProfile(t *testing.T) {
	if _, err := ServerConfig("old"); err == nil {
		t.Fatal("unknown profile accepted")
	}
}

// TLS-04: generated certificates are ECDSA P-256, at most 90 days, reused
// while valid and renewed before they expire.
func TestSelfSigned(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ss, err := EnsureSelfSigned(dir, []string{"api.internal"}, now)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(ss.CertFile, ss.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf := pair.Leaf
	key, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		t.Fatalf("leaf key %T is not ECDSA P-256", leaf.PublicKey)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life > 90*24*time.Hour+time.Hour {
		t.Errorf("leaf lifetime %v exceeds 90 days", life)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1", "api.internal"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("leaf does not cover %s: %v", h, err)
		}
	}
	roots, _ := LoadCARoots(ss.CAFile)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now}); err != nil {
		t.Errorf("leaf does not chain to the CA: %v", err)
	}
	for _, f := range []string{ss.KeyFile, filepath.Join(dir, "tls", "ca-key.pem")} {
		if st, _ := os.Stat(f); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}

	// Reused when still valid.
	if _, err := EnsureSelfSigned(dir, []string{"api.internal"}, now.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	again, _ := tls.LoadX509KeyPair(ss.CertFile, ss.KeyFile)
	if again.Leaf.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Error("a valid certificate was replaced")
	}
	// Renewed when close to expiry.
	if _, err := EnsureSelfSigned(dir, []string{"api.internal"}, now.Add(70*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	renewed, _ := tls.LoadX509KeyPair(ss.CertFile, ss.KeyFile)
	if renewed.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 || !renewed.Leaf.NotAfter.After(leaf.NotAfter) {
		t.Error("an expiring certificate was not renewed")
	}
	// Renewed when a new host name is asked for.
	if _, err := EnsureSelfSigned(dir, []string{"other.internal"}, now.Add(71*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	named, _ := tls.LoadX509KeyPair(ss.CertFile, ss.KeyFile)
	if named.Leaf.VerifyHostname("other.internal") != nil {
		t.Error("new host name not covered")
	}
}

func TestSelfSignedUnwritableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores permissions; use a path under a regular file instead.
		f := filepath.Join(t.TempDir(), "file")
		os.WriteFile(f, nil, 0o600)
		if _, err := EnsureSelfSigned(filepath.Join(f, "sub"), nil, time.Now()); err == nil {
			t.Fatal("no error for a data dir below a file")
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	if _, err := EnsureSelfSigned(dir, nil, time.Now()); err == nil {
		t.Fatal("no error for an unwritable data dir")
	}
}

// TLS-04: certificates reload from files without a restart; a broken new
// file keeps the old certificate.
func TestFileSourceReloadsOnChange(t *testing.T) {
	dir := t.TempDir()
	a, err := EnsureSelfSigned(filepath.Join(dir, "a"), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := EnsureSelfSigned(filepath.Join(dir, "b"), []string{"b.internal"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, "live")
	os.MkdirAll(live, 0o700)
	cert, key := filepath.Join(live, "cert.pem"), filepath.Join(live, "key.pem")
	copyFile(t, a.CertFile, cert)
	copyFile(t, a.KeyFile, key)
	fs, err := NewFileSource(cert, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := fs.Certificate().Leaf.SerialNumber
	reloaded := make(chan error, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watching := make(chan error, 1)
	go func() { watching <- fs.Watch(ctx, func(err error) { reloaded <- err }) }()

	// A broken file: reload fails, old certificate stays. Keep writing until
	// the watcher (started asynchronously) reports.
	waitReload(t, reloaded, func() { os.WriteFile(cert, []byte("not a certificate"), 0o644) }, false)
	if fs.Certificate().Leaf.SerialNumber.Cmp(first) != 0 {
		t.Fatal("a broken file replaced the certificate")
	}
	waitReload(t, reloaded, func() { copyFile(t, b.CertFile, cert); copyFile(t, b.KeyFile, key) }, true)
	if got := fs.Certificate().Leaf; got.SerialNumber.Cmp(first) == 0 || got.VerifyHostname("b.internal") != nil {
		t.Fatal("the new certificate was not loaded")
	}
	cancel()
	if err := <-watching; err != nil {
		t.Fatal(err)
	}
}

func waitReload(t *testing.T, ch chan error, write func(), wantOK bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	write()
	retry := time.NewTicker(500 * time.Millisecond)
	defer retry.Stop()
	for {
		select {
		case err := <-ch:
			if (err == nil) == wantOK {
				return
			}
		case <-retry.C:
			write() // the watcher may not have been watching yet
		case <-deadline:
			t.Fatal("no reload reported")
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWeakKeysRefused(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P224(), randReader{})
	if err := CheckKey(&tls.Certificate{PrivateKey: k}); err == nil {
		t.Error("P-224 key accepted")
	}
}

type randReader struct{}

func (randReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return len(b), nil
}

// TLS-08: client certificates must chain to the configured CA.
func TestClientAuth(t *testing.T) {
	dir := t.TempDir()
	server, _ := EnsureSelfSigned(filepath.Join(dir, "server"), nil, time.Now())
	clientCA, _ := EnsureSelfSigned(filepath.Join(dir, "clients"), nil, time.Now())
	_, _ = EnsureSelfSigned(filepath.Join(dir, "other"), nil, time.Now())
	fs, _ := NewFileSource(server.CertFile, server.KeyFile, nil)
	roots, _ := LoadCARoots(server.CAFile)
	for _, mode := range []string{Require, VerifyIfGiven} {
		t.Run(mode, func(t *testing.T) {
			cfg, _ := ServerConfig(Intermediate)
			cfg.GetCertificate = fs.GetCertificate
			if err := WithClientAuth(cfg, clientCA.CAFile, mode); err != nil {
				t.Fatal(err)
			}
			addr := serve(t, cfg)
			good := clientCert(t, filepath.Join(dir, "clients"))
			bad := clientCert(t, filepath.Join(dir, "other"))
			base := func(certs ...tls.Certificate) *tls.Config {
				return &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: certs}
			}
			if _, err := handshake(addr, base(good)); err != nil {
				t.Errorf("trusted client certificate refused: %v", err)
			}
			if _, err := handshake(addr, base(bad)); err == nil {
				t.Error("client certificate from another CA accepted")
			}
			_, err := handshake(addr, base())
			if mode == Require && err == nil {
				t.Error("no client certificate accepted in require mode")
			}
			if mode == VerifyIfGiven && err != nil {
				t.Errorf("no client certificate refused in verify_if_given mode: %v", err)
			}
		})
	}
	if err := WithClientAuth(&tls.Config{}, filepath.Join(dir, "missing.pem"), Require); err == nil {
		t.Error("missing client CA file accepted")
	}
}

// clientCert issues a client-auth certificate from the CA generated in dataDir.
func clientCert(t *testing.T, dataDir string) tls.Certificate {
	t.Helper()
	c, err := IssueClient(dataDir, "client-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
