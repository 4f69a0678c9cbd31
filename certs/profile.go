// Package certs builds the TLS side of the gateway: Mozilla server profiles
// (TLS-01..03), certificates from files reloaded on change, a generated
// self-signed CA and leaf for development (TLS-04), ACME certificates through
// certmagic, and client-certificate verification for mTLS (TLS-08).
//
// Every *tls.Config returned here has TLS >= 1.2; none skips verification.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Profiles.
const (
	Intermediate = "intermediate"
	Modern       = "modern"
)

// IntermediateSuites are the only TLS 1.2 suites offered (TLS-02): ECDHE key
// exchange with an AEAD cipher. TLS 1.3 suites are not configurable in Go
// and are all AEAD.
var IntermediateSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Groups are the key exchange groups, in preference order (TLS-03).
var Groups = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384}

// ServerConfig returns the base server config of a profile, without
// certificates. NextProtos offers HTTP/2 and HTTP/1.1.
func ServerConfig(profile string) (*tls.Config, error) {
	c := &tls.Config{
		CurvePreferences: append([]tls.CurveID(nil), Groups...),
		NextProtos:       []string{"h2", "http/1.1"},
	}
	switch profile {
	case Intermediate, "":
		c.MinVersion = tls.VersionTLS12
		c.CipherSuites = append([]uint16(nil), IntermediateSuites...)
	case Modern:
		c.MinVersion = tls.VersionTLS13
	default:
		return nil, fmt.Errorf("certs: unknown TLS profile %q (intermediate or modern)", profile)
	}
	return c, nil
}

// ClientAuth modes.
const (
	Require       = "require"
	VerifyIfGiven = "verify_if_given"
)

// WithClientAuth turns on mTLS on c: client certificates must chain to a CA
// in caFile before the connection is accepted (TLS-08).
func WithClientAuth(c *tls.Config, caFile, mode string) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("certs: client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return errors.New("certs: client CA file holds no PEM certificate")
	}
	c.ClientCAs = pool
	switch mode {
	case Require, "":
		c.ClientAuth = tls.RequireAndVerifyClientCert
	case VerifyIfGiven:
		c.ClientAuth = tls.VerifyClientCertIfGiven
	default:
		return fmt.Errorf("certs: unknown client auth mode %q", mode)
	}
	return nil
}
