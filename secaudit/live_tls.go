package secaudit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
)

// probeTLS checks the certificate, then offers what must be refused:
// TLS 1.0 only, TLS 1.1 only, TLS 1.2 with RSA key exchange only, TLS 1.2
// with CBC suites only (TLS-01, TLS-02).
func (p *prober) probeTLS(ctx context.Context) {
	if p.scheme != "https" {
		p.inconclusive(p.origin, "the URL is plain http: the TLS and HSTS probes were skipped")
		return
	}
	_, err := p.handshake(ctx, &tls.Config{ServerName: p.host, RootCAs: p.o.RootCAs, MinVersion: tls.VersionTLS12})
	if errors.Is(err, errBudget) {
		p.skip("tls")
		return
	}
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		p.report(ruleCertificate, p.origin, fmt.Sprintf("the certificate for %s does not verify: %v; the other probes go on without verifying", p.host, verr.Err))
		p.mu.Lock()
		p.insecure = true
		p.mu.Unlock()
		p.client = p.newClient()
	} else if err != nil {
		p.inconclusive(p.origin, "a TLS 1.2+ handshake failed (%v): the TLS probes were skipped", err)
		return
	}

	var rsaKex, cbc []uint16
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if !supports(cs, tls.VersionTLS12) {
			continue
		}
		if strings.HasPrefix(cs.Name, "TLS_RSA_") {
			rsaKex = append(rsaKex, cs.ID)
		}
		if strings.Contains(cs.Name, "_CBC_") && !strings.HasPrefix(cs.Name, "TLS_RSA_") {
			cbc = append(cbc, cs.ID)
		}
	}
	for _, c := range []struct {
		rule, what string
		min, max   uint16
		suites     []uint16
	}{
		{ruleOldTLS, "TLS 1.0", tls.VersionTLS10, tls.VersionTLS10, nil},
		{ruleOldTLS, "TLS 1.1", tls.VersionTLS11, tls.VersionTLS11, nil},
		{ruleNoForwardSecrecy, "TLS 1.2 with RSA key exchange suites only", tls.VersionTLS12, tls.VersionTLS12, rsaKex},
		{ruleCBC, "TLS 1.2 with ECDHE CBC suites only", tls.VersionTLS12, tls.VersionTLS12, cbc},
	} {
		cfg := p.tlsConfig()
		cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites = c.min, c.max, c.suites
		if c.suites == nil {
			// Every suite the old version can use, so only the version decides.
			for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
				if supports(cs, c.min) {
					cfg.CipherSuites = append(cfg.CipherSuites, cs.ID)
				}
			}
		}
		st, err := p.handshake(ctx, cfg)
		if errors.Is(err, errBudget) {
			p.skip("tls")
			return
		}
		if err == nil {
			p.report(c.rule, p.origin, fmt.Sprintf("a handshake offering %s succeeded: %s, %s", c.what, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite)))
		}
	}
}

func supports(cs *tls.CipherSuite, v uint16) bool {
	for _, sv := range cs.SupportedVersions {
		if sv == v {
			return true
		}
	}
	return false
}

// handshake makes one TLS connection to the target with cfg (one request
// of the budget) and closes it.
func (p *prober) handshake(ctx context.Context, cfg *tls.Config) (tls.ConnectionState, error) {
	if !p.spend() {
		return tls.ConnectionState{}, errBudget
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	c, err := p.dialTarget(ctx, "tcp", p.addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return tls.ConnectionState{}, err
	}
	return tc.ConnectionState(), nil
}
