package gatehouse

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/apispec"
	"github.com/gatehouse-dev/gatehouse/edge"
	"github.com/gatehouse-dev/gatehouse/proxy"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
)

type validator struct {
	c    *Config
	errs []FieldError
}

func (v *validator) errf(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Line: v.line(path), Msg: fmt.Sprintf(format, args...)})
}

// line is the line of path, or of its nearest parent in the file when the
// field itself is absent (a missing required field points at its block).
func (v *validator) line(path string) int { return v.c.Line(path) }

// validate checks every value and returns all problems at once.
func (c *Config) validate() []FieldError {
	v := &validator{c: c}
	v.hostPort("listen.address", c.Listen.Address)
	v.tls("listen.tls", &c.Listen.TLS)
	if c.HTTP != nil {
		v.hostPort("http.address", c.HTTP.Address)
		if sameListener(c.HTTP.Address, c.Listen.Address) {
			v.errf("http.address", "must differ from listen.address")
		}
	}
	v.hostPort("admin.address", c.Admin.Address)
	if sameListener(c.Admin.Address, c.Listen.Address) {
		v.errf("admin.address", "the admin listener must not share the public listener (PRX-06)")
	}
	if c.Admin.Plaintext && !isLoopback(c.Admin.Address) {
		v.errf("admin.plaintext", "plaintext is allowed only on a loopback admin address")
	}
	if ca := c.Admin.ClientAuth; ca != nil {
		if c.Admin.Plaintext {
			v.errf("admin.client_auth", "needs TLS: remove admin.plaintext")
		}
		v.readableFile("admin.client_auth.ca_file", ca.CAFile)
		v.oneOf("admin.client_auth.mode", ca.Mode, "require", "verify_if_given")
	}
	for _, f := range []struct {
		path string
		d    Duration
	}{
		{"server.read_header_timeout", c.Server.ReadHeaderTimeout}, {"server.read_timeout", c.Server.ReadTimeout},
		{"server.write_timeout", c.Server.WriteTimeout}, {"server.idle_timeout", c.Server.IdleTimeout},
		{"server.shutdown_timeout", c.Server.ShutdownTimeout},
	} {
		if f.d <= 0 {
			v.errf(f.path, "must be greater than zero")
		}
	}
	if c.Server.MaxHeaderBytes < 1024 || c.Server.MaxHeaderBytes > 1<<20 {
		v.errf("server.max_header_bytes", "must be between 1KiB and 1MiB")
	}
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "json", "text")
	for i, p := range c.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			v.errf(fmt.Sprintf("trusted_proxies[%d]", i), "%v", err)
		}
	}
	for i, n := range c.RequestHeaders.Remove {
		if !tokenRE.MatchString(n) {
			v.errf(fmt.Sprintf("request_headers.remove[%d]", i), "%q is not a header name", n)
		}
	}
	if fa := c.ForwardAuth; fa != nil {
		v.oneOf("forward_auth.proxy", fa.Proxy, "nginx", "traefik", "envoy", "headers")
		switch {
		case fa.Proxy == "headers" && fa.Headers == nil:
			v.errf("forward_auth.headers", "is required with proxy: headers")
		case fa.Proxy != "headers" && (fa.Headers != nil || fa.OnlyStatuses401And403):
			v.errf("forward_auth.headers", "is only for proxy: headers (proxy %s sends known headers)", fa.Proxy)
		case fa.Headers != nil:
			for _, f := range []struct{ path, name string }{{"method", fa.Headers.Method}, {"uri", fa.Headers.URI}, {"host", fa.Headers.Host}} {
				if f.name == "" && f.path != "host" {
					v.errf("forward_auth.headers."+f.path, "is required")
				} else if f.name != "" && !proxy.PlainName(f.name) {
					v.errf("forward_auth.headers."+f.path, "%q: use letters, digits and '-' only", f.name)
				}
			}
		}
	}
	v.rateLimitBackend(&c.RateLimit)
	if c.PolicySchema != "" && len(c.Policies) == 0 {
		v.errf("policy_schema", "needs policies to check")
	}
	if !strings.HasPrefix(c.Store, "sqlite://") && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		v.errf("store", "must be sqlite:///path or postgres://...")
	}
	if c.APIKeys.Secret.IsSet() && len(c.APIKeys.Secret.Value()) < 32 {
		v.errf("api_keys.secret", "must be at least 32 bytes (256 bits)")
	}
	if c.APIKeys.CacheTTL <= 0 || c.APIKeys.CacheTTL.D() > time.Minute {
		v.errf("api_keys.cache_ttl", "must be between 0 and 1m (it bounds how long a revoked key may still pass)")
	}
	if c.Limits.MaxBodyBytes <= 0 {
		v.errf("limits.max_body_bytes", "must be greater than zero")
	}
	if c.Limits.MaxURIBytes < 256 || c.Limits.MaxURIBytes > 1<<16 {
		v.errf("limits.max_uri_bytes", "must be between 256 and 65536")
	}
	v.oneOf("limits.path_params", c.Limits.PathParams, "refuse", "allow")
	v.jwtIssuers()
	v.oauth()
	v.routes()
	return v.errs
}

// sameListener reports whether two listen addresses name the same socket.
// Port 0 (any free port) never clashes.
func sameListener(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa == "0" || pa != pb {
		return false
	}
	return ha == hb || ha == "" || hb == "" // an empty host listens on every address
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func (v *validator) hostPort(path, s string) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(s, "@") { // a URL with user info: never echo what may be a password (LOG-02)
			v.errf(path, "invalid address (a URL with user info, not repeated here): want host:port; credentials go in their own fields, as ${file:...}")
			return
		}
		v.errf(path, "invalid address %q: want host:port", s)
		return
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
			v.errf(path, "invalid host %q", host)
		}
	}
	if !regexp.MustCompile(`^[0-9]{1,5}$`).MatchString(port) {
		v.errf(path, "invalid port %q", port)
	}
}

func (v *validator) oneOf(path, got string, allowed ...string) {
	if !slices.Contains(allowed, got) {
		v.errf(path, "must be one of %s, got %q", strings.Join(allowed, ", "), got)
	}
}

func (v *validator) readableFile(path, file string) {
	if file == "" {
		v.errf(path, "is required")
		return
	}
	f, err := os.Open(file)
	if err != nil {
		v.errf(path, "cannot read %q: %v", file, unwrapPathErr(err))
		return
	}
	f.Close()
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func (v *validator) tls(path string, t *TLS) {
	v.oneOf(path+".profile", t.Profile, "intermediate", "modern")
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.errf(path, "cert_file and key_file go together")
	}
	if t.CertFile != "" {
		v.readableFile(path+".cert_file", t.CertFile)
		v.readableFile(path+".key_file", t.KeyFile)
	}
	for i, h := range t.SelfSignedHosts {
		if _, err := netip.ParseAddr(h); err != nil && !validHostname(h) {
			v.errf(fmt.Sprintf("%s.self_signed_hosts[%d]", path, i), "invalid host name %q", h)
		}
	}
	if a := t.ACME; a != nil {
		ap := path + ".acme"
		if t.CertFile != "" {
			v.errf(ap, "acme and cert_file exclude each other")
		}
		if len(a.Domains) == 0 {
			v.errf(ap+".domains", "at least one domain is required")
		}
		for i, d := range a.Domains {
			if !validHostname(d) {
				v.errf(fmt.Sprintf("%s.domains[%d]", ap, i), "invalid domain %q", d)
			}
		}
		if u, err := url.Parse(a.CA); err != nil || u.Scheme != "https" || u.Host == "" {
			v.errf(ap+".ca", "must be an https URL")
		}
		if a.CARoot != "" {
			v.readableFile(ap+".ca_root", a.CARoot)
		}
		for i, ch := range a.Challenges {
			v.oneOf(fmt.Sprintf("%s.challenges[%d]", ap, i), ch, "http-01", "tls-alpn-01")
		}
		if !a.AgreeTOS {
			v.errf(ap+".agree_tos", "must be true: the ACME CA requires agreeing to its terms")
		}
		if (a.EABKeyID == "") != !a.EABMACKey.IsSet() {
			v.errf(ap, "eab_key_id and eab_mac_key go together")
		}
		for _, p := range []struct {
			path string
			port int
		}{{ap + ".alt_http_port", a.AltHTTPPort}, {ap + ".alt_tls_alpn_port", a.AltTLSALPNPort}} {
			if p.port < 0 || p.port > 65535 {
				v.errf(p.path, "invalid port %d", p.port)
			}
		}
	}
	if ca := t.ClientAuth; ca != nil {
		v.readableFile(path+".client_auth.ca_file", ca.CAFile)
		v.oneOf(path+".client_auth.mode", ca.Mode, "require", "verify_if_given")
	}
}

var (
	hostnameRE  = regexp.MustCompile(`^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	routeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	tokenRE     = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

func validHostname(h string) bool { return len(h) <= 253 && hostnameRE.MatchString(h) }

func (v *validator) routes() {
	names := map[string]int{}
	for i := range v.c.Routes {
		r := &v.c.Routes[i]
		p := fmt.Sprintf("routes[%d]", i)
		switch {
		case r.Name == "":
			v.errf(p+".name", "is required")
		case !routeNameRE.MatchString(r.Name):
			v.errf(p+".name", "%q: use letters, digits, '.', '_' and '-' (at most 64)", r.Name)
		default:
			if j, dup := names[r.Name]; dup {
				v.errf(p+".name", "duplicate route name %q (also routes[%d])", r.Name, j)
			}
			names[r.Name] = i
		}
		v.match(p+".match", &r.Match)
		v.upstream(p+".upstream", &r.Upstream)
		if r.MaxBodyBytes != nil && *r.MaxBodyBytes < 0 {
			v.errf(p+".max_body_bytes", "must not be negative")
		}
		if r.RateLimit != nil {
			v.routeRateLimit(p+".rate_limit", r.RateLimit)
		}
		if a := r.Authorize; a != nil {
			v.authorize(p+".authorize", r, a)
		}
		if vc := r.OpenAPI; vc != nil {
			v.checkOpenAPI(p+".validate", vc)
		}
		if r.Auth != nil && r.Auth.JWT != nil {
			v.routeJWT(p+".auth.jwt", r.Auth.JWT)
		}
		if r.Auth != nil && r.Auth.APIKey != nil {
			if !v.c.APIKeys.Secret.IsSet() {
				v.errf(p+".auth.api_key", "needs api_keys.secret")
			}
			for j, h := range r.Auth.APIKey.Headers {
				v.oneOf(fmt.Sprintf("%s.auth.api_key.headers[%d]", p, j), h, "authorization", "x-api-key")
			}
		}
	}
	// Conflicting patterns are detected by registering them the way the
	// gateway will: ServeMux rules decide, reported as config errors.
	if len(v.errs) == 0 {
		if _, err := buildMux(v.c.Routes, func(int) http.Handler { return http.NotFoundHandler() }); err != nil {
			v.errf(err.path, "%s", err.msg)
		}
	}
}

func (v *validator) match(p string, m *Match) {
	if m.Host != "" && !validHostname(m.Host) {
		v.errf(p+".host", "invalid host name %q (no port, no scheme)", m.Host)
	}
	seen := map[string]bool{}
	for i, meth := range m.Methods {
		mp := fmt.Sprintf("%s.methods[%d]", p, i)
		switch {
		case !tokenRE.MatchString(meth) || strings.ToUpper(meth) != meth:
			v.errf(mp, "invalid method %q (upper-case token, e.g. GET)", meth)
		case meth == http.MethodTrace || meth == http.MethodConnect:
			v.errf(mp, "%s is never proxied (PRX-02)", meth)
		case seen[meth]:
			v.errf(mp, "method %s listed twice", meth)
		}
		seen[meth] = true
	}
	switch {
	case m.Path == "":
		v.errf(p+".path", "is required")
	case !strings.HasPrefix(m.Path, "/"):
		v.errf(p+".path", "must start with /")
	case strings.ContainsAny(m.Path, " \t?#"):
		v.errf(p+".path", "must not contain spaces, a query or a fragment")
	case !normalPattern(m.Path):
		v.errf(p+".path", "is not in normal form (no //, . or .. segments, no encoded slashes)")
	}
}

var wildcardRE = regexp.MustCompile(`\{[^{}/]*\}`)

// normalPattern reports whether a ServeMux path pattern, with its {wildcards}
// replaced, is in the normal form requests are matched in: otherwise the
// route could never match.
func normalPattern(p string) bool {
	lit := wildcardRE.ReplaceAllString(p, "w")
	return normalForm(lit) == lit
}

// normalForm is the escaped normal form of p, or "" if p is refused.
func normalForm(p string) string {
	n, _, err := edge.NormalizePath(p)
	if err != nil {
		return ""
	}
	return n
}

func (v *validator) upstream(p string, u *Upstream) {
	if u.URL != "" && len(u.URLs) > 0 && !(len(u.URLs) == 1 && u.URLs[0] == u.URL) {
		v.errf(p+".url", "set url or urls, not both")
	}
	if len(u.URLs) == 0 {
		v.errf(p+".urls", "at least one upstream URL is required")
	}
	for i, s := range u.URLs {
		up := fmt.Sprintf("%s.urls[%d]", p, i)
		if u.URL != "" && len(u.URLs) == 1 {
			up = p + ".url"
		}
		pu, err := url.Parse(s)
		switch {
		case err != nil:
			v.errf(up, "invalid URL %q", s)
		case pu.Scheme != "http" && pu.Scheme != "https":
			v.errf(up, "scheme must be http or https, got %q", pu.Scheme)
		case pu.Host == "":
			v.errf(up, "URL %q has no host", s)
		case pu.User != nil:
			v.errf(up, "credentials in the upstream URL are not allowed")
		case pu.RawQuery != "" || pu.Fragment != "":
			v.errf(up, "an upstream URL has no query or fragment")
		}
	}
	if u.StripPrefix != "" && (!strings.HasPrefix(u.StripPrefix, "/") || normalForm(u.StripPrefix) != u.StripPrefix) {
		v.errf(p+".strip_prefix", "must be a normal path starting with /")
	}
	if u.CAFile != "" {
		v.readableFile(p+".ca_file", u.CAFile)
	}
	if u.ServerName != "" && !validHostname(u.ServerName) {
		v.errf(p+".server_name", "invalid host name %q", u.ServerName)
	}
	if u.MaxIdleConnsPerHost < 0 || u.MaxConnsPerHost < 0 {
		v.errf(p, "connection pool limits must not be negative")
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"dial_timeout", u.DialTimeout}, {"tls_handshake_timeout", u.TLSHandshakeTimeout}, {"response_header_timeout", u.ResponseHeaderTimeout}} {
		if d.v <= 0 {
			v.errf(p+"."+d.name, "must be greater than zero")
		}
	}
}

func (v *validator) rateLimitBackend(rl *RateLimitBackend) {
	v.oneOf("rate_limit.backend", rl.Backend, "memory", "redis")
	v.oneOf("rate_limit.on_error", rl.OnError, "local", "open", "closed")
	if rl.Instances < 1 || rl.Instances > 1000 {
		v.errf("rate_limit.instances", "must be between 1 and 1000")
	}
	if rl.MaxKeys < 1000 {
		v.errf("rate_limit.max_keys", "must be at least 1000")
	}
	switch {
	case rl.Backend == "redis" && rl.Redis == nil:
		v.errf("rate_limit.redis", "is required with backend: redis")
	case rl.Redis != nil:
		if len(rl.Redis.Addrs) == 0 {
			v.errf("rate_limit.redis.addrs", "at least one address is required")
		}
		for i, a := range rl.Redis.Addrs {
			v.hostPort(fmt.Sprintf("rate_limit.redis.addrs[%d]", i), a)
		}
		if rl.Redis.Timeout <= 0 || rl.Redis.Timeout.D() > time.Second {
			v.errf("rate_limit.redis.timeout", "must be between 0 and 1s")
		}
	}
}

func (v *validator) keyParts(path string, parts []string) {
	for i, part := range parts {
		if !ratelimit.ValidPart(part) {
			v.errf(fmt.Sprintf("%s[%d]", path, i), "unknown key part %q (ip, route, api_key, subject, client, tenant, header:NAME)", part)
		}
	}
}

func (v *validator) routeRateLimit(p string, rl *RouteRateLimit) {
	v.oneOf(p+".headers", rl.Headers, "always", "authenticated", "never")
	if len(rl.Policies) == 0 && rl.Concurrency == nil {
		v.errf(p, "needs policies or concurrency")
	}
	names := map[string]bool{}
	for i := range rl.Policies {
		rp := &rl.Policies[i]
		pp := fmt.Sprintf("%s.policies[%d]", p, i)
		switch {
		case !routeNameRE.MatchString(rp.Name):
			v.errf(pp+".name", "is required: letters, digits, '.', '_' and '-'")
		case names[rp.Name]:
			v.errf(pp+".name", "duplicate policy name %q", rp.Name)
		}
		names[rp.Name] = true
		if rp.Limit <= 0 {
			v.errf(pp+".limit", "must be greater than zero")
		}
		if rp.Window <= 0 {
			v.errf(pp+".window", "must be greater than zero")
		} else if rp.Limit > 0 && rp.Window.D()/time.Duration(rp.Limit) < time.Microsecond {
			v.errf(pp+".window", "more than one request per microsecond cannot be limited precisely")
		}
		if rp.Burst < 0 {
			v.errf(pp+".burst", "must not be negative")
		} else if burst := rp.Burst; rp.Limit > 0 && rp.Window > 0 {
			if burst == 0 {
				burst = rp.Limit
			}
			if iv := rp.Window.D() / time.Duration(rp.Limit); iv > 0 && int64(burst) > int64(ratelimit.MaxTolerance/iv) {
				v.errf(pp+".burst", "burst × window / limit must not exceed %v", ratelimit.MaxTolerance)
			}
		}
		v.keyParts(pp+".key", rp.Key)
		v.oneOf(pp+".stage", rp.Stage, "pre_auth", "post_auth")
		if rp.Stage == "pre_auth" {
			for j, part := range rp.Key {
				if !ratelimit.PreAuthPart(part) {
					v.errf(fmt.Sprintf("%s.key[%d]", pp, j), "%q is not known before authentication; use stage: post_auth", part)
				}
			}
		}
		v.oneOf(pp+".on_error", rp.OnError, "local", "open", "closed")
	}
	if cc := rl.Concurrency; cc != nil {
		if cc.Limit <= 0 {
			v.errf(p+".concurrency.limit", "must be greater than zero")
		}
		v.keyParts(p+".concurrency.key", cc.Key)
	}
}

var cedarIdentRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (v *validator) authorize(p string, r *Route, a *Authorize) {
	if len(v.c.Policies) == 0 {
		v.errf(p, "needs policies: list Cedar policy files under policies")
	}
	if len(a.Action) > 128 {
		v.errf(p+".action", "longer than 128 characters")
	}
	params := map[string]bool{}
	for _, m := range wildcardRE.FindAllString(r.Match.Path, -1) {
		params[strings.TrimSuffix(strings.Trim(m, "{}"), "...")] = true
	}
	ref := func(path, val string) {
		if len(val) > 2 && val[0] == '{' && val[len(val)-1] == '}' && !params[val[1:len(val)-1]] {
			v.errf(path, "%s is not a path parameter of %s", val, r.Match.Path)
		}
	}
	if res := a.Resource; res != nil {
		if !cedarIdentRE.MatchString(res.Type) {
			v.errf(p+".resource.type", "must be a Cedar type name (letters, digits, _), e.g. Order")
		}
		if res.ID == "" {
			v.errf(p+".resource.id", "is required: a literal or a path parameter like {id}")
		}
		ref(p+".resource.id", res.ID)
		for k, val := range res.Attrs {
			ref(fmt.Sprintf("%s.resource.attrs[%q]", p, k), val)
		}
		if f := res.Fetch; f != nil {
			fp := p + ".resource.fetch"
			if u, err := url.Parse(wildcardRE.ReplaceAllString(f.URL, "x")); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
				v.errf(fp+".url", "must be an http(s) URL with a host")
			}
			for _, m := range wildcardRE.FindAllString(f.URL, -1) {
				ref(fp+".url", m)
			}
			if !placeholdersInPathOnly(f.URL) {
				v.errf(fp+".url", "path parameters may stand only in the URL's path, as whole segments' parts, never in the scheme, host, port, user info, query or fragment (AZ-06)")
			}
			if len(f.Attrs) == 0 {
				v.errf(fp+".attrs", "name at least one field to take")
			}
		}
	}
	for i, h := range a.Headers {
		if !tokenRE.MatchString(h) {
			v.errf(fmt.Sprintf("%s.headers[%d]", p, i), "invalid header name %q", h)
		}
	}
}

// placeholdersInPathOnly reports whether every {param} of a fetch URL is
// in its path: after "scheme://host[:port]/" and before any '?' or '#'.
func placeholdersInPathOnly(raw string) bool {
	rest, ok := strings.CutPrefix(raw, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(raw, "http://"); !ok {
			return !strings.Contains(raw, "{")
		}
	}
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return !strings.Contains(rest, "{")
	}
	if strings.ContainsAny(rest[:slash], "{}") {
		return false
	}
	if end := strings.IndexAny(rest[slash:], "?#"); end >= 0 && strings.ContainsAny(rest[slash+end:], "{}") {
		return false
	}
	return true
}

// checkOpenAPI checks a route's validate block and compiles its document,
// so a broken document fails the load (and `gatehouse validate`) with the
// file and the place in it.
func (v *validator) checkOpenAPI(p string, vc *OpenAPIValidation) {
	n := len(v.errs)
	if vc.OpenAPI == "" {
		v.errf(p+".openapi", "is required")
	}
	v.oneOf(p+".mode", vc.Mode, "enforce", "report")
	v.oneOf(p+".responses", vc.Responses, "off", "report", "enforce")
	if vc.MaxDepth < 1 || vc.MaxDepth > 1000 {
		v.errf(p+".max_depth", "must be between 1 and 1000")
	}
	if vc.MaxResponseBytes < 1 {
		v.errf(p+".max_response_bytes", "must be positive")
	}
	for i, u := range vc.AllowRemoteRefs {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || !strings.HasSuffix(pu.Path, "/") {
			v.errf(fmt.Sprintf("%s.allow_remote_refs[%d]", p, i), "%q: want an http(s) URL prefix ending in /", u)
		}
	}
	if len(v.errs) > n {
		return
	}
	if _, err := v.c.documents().spec(vc); err != nil {
		var le *apispec.LoadError
		if errors.As(err, &le) {
			for _, prob := range le.Problems {
				v.errf(p+".openapi", "%s: %s", le.File, prob)
			}
			return
		}
		v.errf(p+".openapi", "%v", err)
	}
}

func (v *validator) jwtIssuers() {
	seen := map[string]int{}
	for i := range v.c.JWT.Issuers {
		is := &v.c.JWT.Issuers[i]
		p := fmt.Sprintf("jwt.issuers[%d]", i)
		if is.Issuer == "" {
			v.errf(p+".issuer", "is required")
		} else if j, dup := seen[is.Issuer]; dup {
			v.errf(p+".issuer", "%q is also jwt.issuers[%d]", is.Issuer, j)
		}
		seen[is.Issuer] = i
		switch {
		case (is.DiscoveryURL == "") == (is.JWKSURL == ""):
			v.errf(p, "set exactly one of discovery_url and jwks_url")
		case is.DiscoveryURL != "":
			v.keyURL(p+".discovery_url", is.DiscoveryURL)
		default:
			v.keyURL(p+".jwks_url", is.JWKSURL)
		}
		for j, a := range is.Algorithms {
			v.oneOf(fmt.Sprintf("%s.algorithms[%d]", p, j), a, "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
		}
		if is.Leeway < 0 || is.Leeway.D() > 120*time.Second {
			v.errf(p+".leeway", "must be between 0 and 120s")
		}
	}
	if v.c.JWT.MaxTokenBytes < 0 || v.c.JWT.MaxTokenBytes > 64<<10 {
		v.errf("jwt.max_token_bytes", "must be at most 64KiB")
	}
}

// keyURL accepts https URLs, and http only to a loopback host.
func (v *validator) keyURL(p, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		v.errf(p, "%q is not a URL", raw)
		return
	}
	if u.Scheme == "https" || u.Scheme == "http" && isLoopback(net.JoinHostPort(u.Hostname(), "0")) {
		return
	}
	v.errf(p, "%q: keys are fetched over https only (http only from a loopback address)", raw)
}

func (v *validator) routeJWT(p string, a *JWTAuth) {
	if a.Audience == "" {
		v.errf(p+".audience", "is required: the identifier of this API, which tokens must name in aud")
	}
	if len(v.c.JWT.Issuers) == 0 && v.c.OAuth == nil {
		v.errf(p, "needs jwt.issuers or oauth")
	}
	for i, iss := range a.Issuers {
		builtIn := v.c.OAuth != nil && strings.TrimSuffix(iss, "/") == v.c.OAuth.Issuer
		if !builtIn && !slices.ContainsFunc(v.c.JWT.Issuers, func(j JWTIssuer) bool { return j.Issuer == iss }) {
			v.errf(fmt.Sprintf("%s.issuers[%d]", p, i), "%q is not in jwt.issuers (nor oauth.issuer)", iss)
		}
	}
}

func (v *validator) oauth() {
	if o := v.c.OAuth; o != nil && o.RateLimit != nil && (o.RateLimit.Limit <= 0 || o.RateLimit.Window <= 0) {
		v.errf("oauth.rate_limit", "limit and window must be greater than zero (or set off: true)")
	}
	o := v.c.OAuth
	if o == nil {
		return
	}
	u, err := url.Parse(o.Issuer)
	switch {
	case o.Issuer == "":
		v.errf("oauth.issuer", "is required: this gateway's public URL")
	case err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "":
		v.errf("oauth.issuer", "%q: want an https URL with no path, query or fragment", o.Issuer)
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(net.JoinHostPort(u.Hostname(), "0"))):
		v.errf("oauth.issuer", "%q: must be https (http only on loopback)", o.Issuer)
	}
	for _, j := range v.c.JWT.Issuers {
		if strings.TrimSuffix(j.Issuer, "/") == o.Issuer {
			v.errf("oauth.issuer", "%q is also in jwt.issuers: the built-in server is trusted without being listed", o.Issuer)
		}
	}
	if !o.SigningKeySecret.IsSet() {
		v.errf("oauth.signing_key_secret", "is required (at least 32 bytes, as ${file:...} or ${env:...})")
	} else if len(o.SigningKeySecret.Value()) < 32 {
		v.errf("oauth.signing_key_secret", "must be at least 32 bytes")
	}
	if d := o.AccessTokenTTL.D(); d < time.Minute || d > time.Hour {
		v.errf("oauth.access_token_ttl", "must be between 1m and 1h")
	}
	v.oneOf("oauth.algorithm", o.Algorithm, "EdDSA", "ES256", "RS256")
	if d := o.RefreshTokenTTL.D(); d < 5*time.Minute || d > 90*24*time.Hour {
		v.errf("oauth.refresh_token_ttl", "must be between 5m and 2160h (90 days)")
	}
	if d := o.RotateEvery.D(); d < time.Hour {
		v.errf("oauth.rotate_every", "must be at least 1h")
	}
}
