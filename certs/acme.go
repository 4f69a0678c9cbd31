package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ACMEOptions configure automatic certificates.
type ACMEOptions struct {
	Domains    []string
	Email      string
	CA         string // directory URL
	CARoots    *x509.CertPool
	HTTP01     bool
	TLSALPN01  bool
	StorageDir string
	EABKeyID   string
	EABMACKey  string
	// Ports the ACME server validates on, when not 80/443 (tests, port maps).
	AltHTTPPort, AltTLSALPNPort int
	Log                         *slog.Logger
}

// ACME obtains and renews certificates through certmagic, with its own
// certificate cache (no certmagic globals) and file storage under the data dir.
type ACME struct {
	cfg     *certmagic.Config
	issuer  *certmagic.ACMEIssuer
	cache   *certmagic.Cache
	domains []string
}

// LoadCARoots reads a PEM bundle into a pool.
func LoadCARoots(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("certs: ACME ca_root: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("certs: ACME ca_root holds no PEM certificate")
	}
	return pool, nil
}

// NewACME prepares certificate management; Start obtains the certificates.
func NewACME(o ACMEOptions) (*ACME, error) {
	if len(o.Domains) == 0 {
		return nil, errors.New("certs: ACME needs at least one domain")
	}
	if !o.HTTP01 && !o.TLSALPN01 {
		return nil, errors.New("certs: ACME needs at least one challenge type")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	logger := zap.New(slogCore{log: o.Log})
	a := &ACME{domains: slices.Clone(o.Domains)}
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return a.cfg, nil },
		Logger:           logger,
	})
	a.cfg = certmagic.New(a.cache, certmagic.Config{
		Storage:   &certmagic.FileStorage{Path: filepath.Join(o.StorageDir)},
		Logger:    logger,
		KeySource: certmagic.StandardKeyGenerator{KeyType: certmagic.P256},
	})
	tmpl := certmagic.ACMEIssuer{
		CA:                      o.CA,
		Email:                   o.Email,
		Agreed:                  true,
		DisableHTTPChallenge:    !o.HTTP01,
		DisableTLSALPNChallenge: !o.TLSALPN01,
		TrustedRoots:            o.CARoots,
		AltHTTPPort:             o.AltHTTPPort,
		AltTLSALPNPort:          o.AltTLSALPNPort,
		Logger:                  logger,
	}
	if o.EABKeyID != "" {
		tmpl.ExternalAccount = &acme.EAB{KeyID: o.EABKeyID, MACKey: o.EABMACKey}
	}
	a.issuer = certmagic.NewACMEIssuer(a.cfg, tmpl)
	a.cfg.Issuers = []certmagic.Issuer{a.issuer}
	return a, nil
}

// Start obtains (or loads from storage) the certificates and keeps them
// renewed in the background until Stop. It returns when every domain has a
// certificate, or with the first error.
func (a *ACME) Start(ctx context.Context) error {
	return a.cfg.ManageSync(ctx, a.domains)
}

// Stop ends background renewal.
func (a *ACME) Stop() { a.cache.Stop() }

// GetCertificate is a tls.Config.GetCertificate that also answers
// TLS-ALPN-01 challenges.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return a.cfg.GetCertificate(hello)
}

// Apply sets c to take certificates from ACME and to offer the acme-tls/1
// protocol the TLS-ALPN-01 challenge needs.
func (a *ACME) Apply(c *tls.Config) {
	c.GetCertificate = a.GetCertificate
	if !slices.Contains(c.NextProtos, acmeTLS1) {
		c.NextProtos = append(c.NextProtos, acmeTLS1)
	}
}

const acmeTLS1 = "acme-tls/1"

// HTTPChallengeHandler answers HTTP-01 challenges and passes every other
// request to next.
func (a *ACME) HTTPChallengeHandler(next http.Handler) http.Handler {
	return a.issuer.HTTPChallengeHandler(next)
}

// slogCore sends certmagic's zap logs to slog.
type slogCore struct {
	log    *slog.Logger
	fields []zapcore.Field
}

func (c slogCore) Enabled(l zapcore.Level) bool { return l >= zapcore.InfoLevel }
func (c slogCore) With(f []zapcore.Field) zapcore.Core {
	return slogCore{log: c.log, fields: append(slices.Clone(c.fields), f...)}
}
func (c slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}
func (c slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(slices.Clone(c.fields), fields...) {
		f.AddTo(enc)
	}
	args := make([]any, 0, 2*len(enc.Fields)+2)
	args = append(args, "component", "acme")
	for k, v := range enc.Fields {
		args = append(args, k, v)
	}
	level := slog.LevelInfo
	switch {
	case e.Level >= zapcore.ErrorLevel:
		level = slog.LevelError
	case e.Level == zapcore.WarnLevel:
		level = slog.LevelWarn
	}
	c.log.Log(context.Background(), level, e.Message, args...)
	return nil
}
func (c slogCore) Sync() error { return nil }
