package secaudit

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
)

// certExpiryWarning is how close to expiry a certificate is flagged.
const certExpiryWarning = 21 * 24 * time.Hour

var transportChecks = []check{
	{finding.Rule{
		ID: "GH-TLS-1", Severity: finding.Info,
		Title: "TLS 1.2 is accepted (Mozilla intermediate profile)",
		Why:   "The intermediate profile keeps TLS 1.2 for older clients; TLS 1.3 alone (modern) removes every legacy negotiation path.",
		Fix:   "When every client speaks TLS 1.3, set listen.tls.profile: modern.",
		Refs:  []string{"TLS-01", "TLS-02"},
	}, func(a *auditor) {
		if a.cfg.Listen.TLS.Profile != "modern" {
			a.at("listen.tls.profile", "profile %s accepts TLS 1.2 and 1.3", a.cfg.Listen.TLS.Profile)
		}
	}},
	{finding.Rule{
		ID: "GH-TLS-2", Severity: finding.High,
		Title: "Certificate expires within 21 days, or has expired",
		Why:   "An expired certificate takes the API down for every client that verifies, and teaches the rest to click through errors.",
		Fix:   "Renew the certificate (the gateway reloads cert_file when it changes), or let ACME renew it: listen.tls.acme.",
		Refs:  []string{"TLS-04"},
	}, func(a *auditor) {
		cert := a.listenCert()
		if cert == nil {
			return
		}
		left := cert.NotAfter.Sub(a.in.Now)
		switch {
		case left <= 0:
			a.at("listen.tls.cert_file", "the certificate of %s expired on %s", strings.Join(certNames(cert), ", "), cert.NotAfter.UTC().Format(time.DateOnly))
		case left < certExpiryWarning:
			a.at("listen.tls.cert_file", "the certificate of %s expires in %d days (%s)", strings.Join(certNames(cert), ", "), int(left.Hours()/24), cert.NotAfter.UTC().Format(time.DateOnly))
		}
	}},
	{finding.Rule{
		ID: "GH-TLS-3", Severity: finding.Medium,
		Title: "The listener serves a generated self-signed certificate",
		Why: "No client can verify it, so clients either fail or turn verification off — and a client that does not " +
			"verify talks to whoever answers. Right for the demo and tests, wrong in production.",
		Fix:  "Set listen.tls.cert_file and key_file, or listen.tls.acme.",
		Refs: []string{"TLS-04"},
	}, func(a *auditor) {
		if t := a.cfg.Listen.TLS; t.CertFile == "" && t.ACME == nil {
			a.at("listen.tls", "neither cert_file nor acme is set: the gateway generates a self-signed certificate")
		}
	}},
	{finding.Rule{
		ID: "GH-TLS-4", Severity: finding.High,
		Title: "Upstream certificates are not verified",
		Why:   "With insecure_skip_verify anyone on the path to the upstream can impersonate it and read or change every request, credentials and identity headers included.",
		Fix:   "Remove insecure_skip_verify; trust the upstream's private CA with ca_file, or set server_name when the URL host differs from the certificate.",
		Refs:  []string{"TLS-07"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			if r.Upstream.InsecureSkipVerify {
				a.at(p+".upstream.insecure_skip_verify", "route %s does not verify the certificate of %s", describe(r), upstreamName(&r.Upstream))
			}
		})
	}},
	{finding.Rule{
		ID: "GH-TLS-5", Severity: finding.High,
		Title: "Plain-HTTP upstream off loopback",
		Why: "Requests, identity headers and responses cross the network in clear text: anyone on the path reads them " +
			"and can forge the identity headers the upstream trusts.",
		Fix:  "Use an https:// upstream URL (with ca_file for a private CA), or run the gateway beside the upstream on loopback.",
		Refs: []string{"TLS-07"},
	}, func(a *auditor) {
		a.routes(func(p string, r *gatehouse.Route) {
			// The load copies url into urls: each backend is named once.
			urls := append([]string{r.Upstream.URL}, r.Upstream.URLs...)
			slices.Sort(urls)
			for _, raw := range slices.Compact(urls) {
				if u, err := url.Parse(raw); err == nil && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
					a.at(p+".upstream", "route %s sends requests in clear text to %s", describe(r), u.Redacted())
				}
			}
			if az := r.Authorize; az != nil && az.Resource != nil && az.Resource.Fetch != nil {
				if u, err := url.Parse(az.Resource.Fetch.URL); err == nil && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
					a.at(p+".authorize.resource.fetch.url", "route %s fetches policy attributes in clear text from %s", describe(r), u.Redacted())
				}
			}
		})
	}},
	{finding.Rule{
		ID: "GH-TLS-6", Severity: finding.High,
		Title: "Admin listener off loopback without mutual TLS",
		Why: "The admin API creates keys and changes policies; reachable from the network, it is guarded only by an " +
			"admin key that one phishing mail or log leak away from anyone.",
		Fix:  "Keep admin.address on loopback (default 127.0.0.1:9443), or require client certificates with admin.client_auth.",
		Refs: []string{"CFG-01", "PRX-06"},
	}, func(a *auditor) {
		if !loopbackAddress(a.cfg.Admin.Address) && (a.cfg.Admin.ClientAuth == nil || a.cfg.Admin.ClientAuth.Mode != "require") {
			a.at("admin.address", "the admin listener %s is reachable off loopback without client certificates", a.cfg.Admin.Address)
		}
	}},
	{finding.Rule{
		ID: "GH-TLS-7", Severity: finding.High,
		Title: "Weak certificate key or signature",
		Why:   "RSA keys under 2048 bits and SHA-1 signatures can be broken or forged; browsers and TLS libraries refuse them.",
		Fix:   "Issue an ECDSA P-256 (or RSA 2048+) certificate signed with SHA-256 or better.",
		Refs:  []string{"TLS-04"},
	}, func(a *auditor) {
		cert := a.listenCert()
		if cert == nil {
			return
		}
		switch k := cert.PublicKey.(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < 2048 {
				a.at("listen.tls.cert_file", "the certificate has a %d-bit RSA key", k.N.BitLen())
			}
		case *ecdsa.PublicKey:
			if k.Curve.Params().BitSize < 256 {
				a.at("listen.tls.cert_file", "the certificate has a %d-bit ECDSA key", k.Curve.Params().BitSize)
			}
		}
		switch cert.SignatureAlgorithm {
		case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.MD5WithRSA, x509.DSAWithSHA1:
			a.at("listen.tls.cert_file", "the certificate is signed with %s", cert.SignatureAlgorithm)
		}
	}},
	{finding.Rule{
		ID: "GH-TLS-8", Severity: finding.Medium,
		Title: "Redis off loopback without TLS",
		Why:   "Rate-limit counters and the Redis password cross the network in clear text; anyone on the path can reset a client's counters.",
		Fix:   "Set rate_limit.redis.tls: true, or reach Redis on loopback.",
		Refs:  []string{"RL-04"},
	}, func(a *auditor) {
		r := a.cfg.RateLimit.Redis
		if a.cfg.RateLimit.Backend != "redis" || r == nil || r.TLS {
			return
		}
		for _, addr := range r.Addrs {
			if !loopbackAddress(addr) {
				a.at("rate_limit.redis", "Redis %s is reached without TLS", addr)
			}
		}
	}},
	{finding.Rule{
		ID: "GH-TLS-9", Severity: finding.Medium,
		Title: "PostgreSQL off loopback without verified TLS",
		Why:   "The database holds key hashes, client secrets' hashes and sealed signing keys; without sslmode verify-full anyone on the path reads or impersonates it.",
		Fix:   "Add sslmode=verify-full (and sslrootcert for a private CA) to the store URL, or reach the database on loopback.",
		Refs:  []string{"KEY-02"},
	}, func(a *auditor) {
		u, err := url.Parse(a.cfg.Store)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || loopbackHost(u.Hostname()) || u.Hostname() == "" {
			return
		}
		if mode := u.Query().Get("sslmode"); mode != "verify-full" {
			if mode == "" {
				mode = "unset (prefer)"
			}
			a.at("store", "the database at %s is reached with sslmode %s", u.Hostname(), mode)
		}
	}},
	{finding.Rule{
		ID: "GH-TLS-10", Severity: finding.Low,
		Title: "Client certificates are optional on the public listener",
		Why:   "With client_auth mode verify_if_given a client without a certificate still connects; only routes that check for one are protected by it.",
		Fix:   "Use mode: require when every client has a certificate.",
		Refs:  []string{"TLS-08"},
	}, func(a *auditor) {
		if ca := a.cfg.Listen.TLS.ClientAuth; ca != nil && ca.Mode == "verify_if_given" {
			a.at("listen.tls.client_auth.mode", "clients without a certificate connect")
		}
	}},
}

// listenCert reads the first certificate of listen.tls.cert_file.
func (a *auditor) listenCert() *x509.Certificate {
	f := a.cfg.Listen.TLS.CertFile
	if f == "" {
		return nil
	}
	data, err := os.ReadFile(f)
	if err != nil {
		return nil
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil
			}
			return c
		}
	}
}

func certNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		names = []string{fmt.Sprintf("%q", c.Subject.CommonName)}
	}
	return names
}

// loopbackHost reports whether a host name or IP is loopback.
func loopbackHost(h string) bool {
	h = strings.TrimSuffix(h, ".") // localhost. is localhost (a fully qualified name)
	if strings.EqualFold(h, "localhost") || strings.HasSuffix(strings.ToLower(h), ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil && ip.IsLoopback()
}

// loopbackAddress reports whether a host:port listens or points at loopback
// only (":9443" and "0.0.0.0:9443" listen on every interface).
func loopbackAddress(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		h = addr
	}
	return h != "" && loopbackHost(h)
}
