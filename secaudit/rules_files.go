package secaudit

import (
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
)

var fileChecks = []check{
	{finding.Rule{
		ID: "GH-SEC-1", Severity: finding.High,
		Title: "Secret file readable by other users",
		Why:   "Whoever reads the file holds the secret: with the API key secret, stolen key hashes can be checked offline; with the signing key secret, tokens forged.",
		Fix:   "chmod 600 the file (and chown it to the gateway's user).",
		Refs:  []string{"CFG-02", "CFG-05"},
	}, func(a *auditor) {
		for _, s := range secretsOf(a.cfg) {
			if f := s.secret.File(); f != "" {
				if mode, ok := perm(f); ok && mode&0o044 != 0 {
					a.at(s.path, "secret file %s is mode %04o: readable by group or others", f, mode)
				}
			}
		}
	}},
	{finding.Rule{
		ID: "GH-SEC-2", Severity: finding.High,
		Title: "Data directory open to other users",
		Why:   "It holds the database, the generated certificate's key and ACME account keys.",
		Fix:   "chmod 700 the data directory.",
		Refs:  []string{"CFG-05"},
	}, func(a *auditor) {
		if mode, ok := perm(a.cfg.DataDir); ok && mode&0o077 != 0 {
			a.at("data_dir", "data directory %s is mode %04o", a.cfg.DataDir, mode)
		}
	}},
	{finding.Rule{
		ID: "GH-SEC-3", Severity: finding.High,
		Title: "Database files readable by other users",
		Why:   "The database holds API key hashes, client secret hashes, sealed signing keys and the audit trail; its -wal and -shm files hold recent pages of it.",
		Fix:   "chmod 600 the database and its -wal and -shm files.",
		Refs:  []string{"CFG-05", "KEY-02"},
	}, func(a *auditor) {
		db, ok := strings.CutPrefix(a.cfg.Store, "sqlite://")
		if !ok {
			return
		}
		field := "store"
		if a.cfg.Line(field) == 0 { // the default store, under data_dir
			field = "data_dir"
		}
		for _, f := range []string{db, db + "-wal", db + "-shm"} {
			if mode, ok := perm(f); ok && mode&0o077 != 0 {
				a.at(field, "database file %s is mode %04o", f, mode)
			}
		}
	}},
	{finding.Rule{
		ID: "GH-SEC-4", Severity: finding.High,
		Title: "TLS private key readable by other users",
		Why:   "Whoever reads the key impersonates the gateway to every client.",
		Fix:   "chmod 600 the key file.",
		Refs:  []string{"CFG-05", "TLS-04"},
	}, func(a *auditor) {
		if f := a.cfg.Listen.TLS.KeyFile; f != "" {
			if mode, ok := perm(f); ok && mode&0o077 != 0 {
				a.at("listen.tls.key_file", "key file %s is mode %04o", f, mode)
			}
		}
	}},
	{finding.Rule{
		ID: "GH-SEC-5", Severity: finding.Critical,
		Title: "Every address is a trusted proxy",
		Why: "A trusted proxy's X-Forwarded-For, X-Request-Id and forward-auth calls are believed: with 0.0.0.0/0 or ::/0 " +
			"every client chooses its own address (defeating per-IP limits and IP policies) and may call forward auth.",
		Fix:  "List only the addresses of the proxies in front of the gateway in trusted_proxies.",
		Refs: []string{"PRX-01", "PRX-08"},
	}, func(a *auditor) {
		var all []netip.Prefix
		for i, s := range a.cfg.TrustedProxies {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				continue
			}
			if p.Bits() == 0 {
				a.at(fmt.Sprintf("trusted_proxies[%d]", i), "%s trusts every address", s)
				return
			}
			all = append(all, p.Masked())
		}
		// Ranges that together cover a whole family (0.0.0.0/1 and
		// 128.0.0.0/1) trust every address just the same.
		for _, whole := range []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")} {
			if len(all) > 1 && coveredBy(whole, all) {
				a.at("trusted_proxies", "%s together trust every address of %s", strings.Join(a.cfg.TrustedProxies, ", "), whole)
			}
		}
	}},
	{finding.Rule{
		ID: "GH-SEC-6", Severity: finding.Medium,
		Title: "Trusted proxies include a wide public range",
		Why:   "Every host in the range may claim any client address and call forward auth; a proxy is one host or a small private subnet.",
		Fix:   "Narrow the range to the proxies' own addresses.",
		Refs:  []string{"PRX-08"},
	}, func(a *auditor) {
		for i, s := range a.cfg.TrustedProxies {
			p, err := netip.ParsePrefix(s)
			if err != nil || p.Bits() == 0 {
				continue
			}
			wide := (p.Addr().Is4() && p.Bits() < 24) || (p.Addr().Is6() && p.Bits() < 64)
			if wide && !p.Addr().IsPrivate() && !p.Addr().IsLoopback() {
				a.at(fmt.Sprintf("trusted_proxies[%d]", i), "%s trusts a public range of %d address bits", s, p.Addr().BitLen()-p.Bits())
			}
		}
	}},
	{finding.Rule{
		ID: "GH-SEC-7", Severity: finding.Low,
		Title: "Debug logging",
		Why:   "Debug logs are large and detailed: they fill disks, slow requests and carry more of each request than the info level.",
		Fix:   "Set log.level: info in production.",
		Refs:  []string{"LOG-02"},
	}, func(a *auditor) {
		if a.cfg.Log.Level == "debug" {
			a.at("log.level", "the gateway logs at debug level")
		}
	}},
	{finding.Rule{
		ID: "GH-SEC-8", Severity: finding.Medium,
		Title: "Access log off",
		Why:   "Without one line per request there is no record of who called what: incidents cannot be traced and anomalies are not seen.",
		Fix:   "Remove log.access: false.",
		Refs:  []string{"LOG-01"},
	}, func(a *auditor) {
		if !a.cfg.Log.AccessLog() {
			a.at("log.access", "requests are not logged")
		}
	}},
	{finding.Rule{
		ID: "GH-SEC-9", Severity: finding.High,
		Title: "Config or policy file writable by other users",
		Why:   "The gateway reloads them on change: whoever can write them can open every route.",
		Fix:   "chmod 644 (or 600) the files and keep their directory writable only by their owner.",
		Refs:  []string{"CFG-03"},
	}, func(a *auditor) {
		files := []struct{ path, file string }{{"", a.cfg.File()}}
		for i, p := range a.cfg.Policies {
			files = append(files, struct{ path, file string }{fmt.Sprintf("policies[%d]", i), p})
		}
		if a.cfg.PolicySchema != "" {
			files = append(files, struct{ path, file string }{"policy_schema", a.cfg.PolicySchema})
		}
		a.routes(func(p string, r *gatehouse.Route) {
			if r.OpenAPI != nil {
				files = append(files, struct{ path, file string }{p + ".validate.openapi", r.OpenAPI.OpenAPI})
			}
		})
		seen := map[string]bool{}
		for _, f := range files {
			if f.file == "" || seen[f.file] {
				continue
			}
			seen[f.file] = true
			if mode, ok := perm(f.file); ok && mode&0o022 != 0 {
				a.at(f.path, "%s is mode %04o: writable by group or others", f.file, mode)
			} else if mode, ok := perm(filepath.Dir(f.file)); ok && mode&0o022 != 0 && mode&fs.ModeSticky == 0 {
				a.at(f.path, "the directory of %s is mode %04o: others may replace the file", f.file, mode&fs.ModePerm)
			}
		}
	}},
	{finding.Rule{
		ID: "GH-SEC-10", Severity: finding.Medium,
		Title: "Redis off loopback without a password",
		Why:   "Anyone who reaches Redis can reset every rate-limit counter, or read and flood it.",
		Fix:   "Set rate_limit.redis.password (and username with Redis ACLs), as ${file:...}.",
		Refs:  []string{"RL-04", "CFG-01"},
	}, func(a *auditor) {
		r := a.cfg.RateLimit.Redis
		if a.cfg.RateLimit.Backend != "redis" || r == nil || r.Password.IsSet() {
			return
		}
		for _, addr := range r.Addrs {
			if !loopbackAddress(addr) {
				a.at("rate_limit.redis", "Redis %s is reached without a password", addr)
				return
			}
		}
	}},
}

type namedSecret struct {
	path   string
	secret gatehouse.Secret
}

// secretsOf lists the config's secrets with their field paths.
func secretsOf(c *gatehouse.Config) []namedSecret {
	out := []namedSecret{{"api_keys.secret", c.APIKeys.Secret}}
	if c.OAuth != nil {
		out = append(out, namedSecret{"oauth.signing_key_secret", c.OAuth.SigningKeySecret})
	}
	if c.RateLimit.Redis != nil {
		out = append(out, namedSecret{"rate_limit.redis.password", c.RateLimit.Redis.Password})
	}
	if c.Listen.TLS.ACME != nil {
		out = append(out, namedSecret{"listen.tls.acme.eab_mac_key", c.Listen.TLS.ACME.EABMACKey})
	}
	return out
}

// perm returns a file's permission bits (with the sticky bit), false when
// it cannot be read.
func perm(path string) (fs.FileMode, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return fi.Mode() & (fs.ModePerm | fs.ModeSticky), true
}

// coveredBy reports whether every address of p is in one of the prefixes
// of list: p is, or each of its halves is. Only halves that some listed
// prefix lies inside are split further, so the walk is bounded by the
// list's length times the address width.
func coveredBy(p netip.Prefix, list []netip.Prefix) bool {
	inside := false
	for _, q := range list {
		if q.Addr().BitLen() != p.Addr().BitLen() {
			continue
		}
		if q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
		if q.Bits() > p.Bits() && p.Contains(q.Addr()) {
			inside = true
		}
	}
	if !inside || p.Bits() >= p.Addr().BitLen() {
		return false
	}
	lo := netip.PrefixFrom(p.Addr(), p.Bits()+1)
	b := p.Addr().AsSlice()
	b[p.Bits()/8] |= 0x80 >> (p.Bits() % 8)
	hiAddr, _ := netip.AddrFromSlice(b)
	hi := netip.PrefixFrom(hiAddr, p.Bits()+1)
	return coveredBy(lo, list) && coveredBy(hi, list)
}
