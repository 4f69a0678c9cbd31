package proxy

import (
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/identity"
)

// The inbound header boundary (PRX-08, PRX-09). Upstream stacks read header
// names loosely: CGI, WSGI, Rack and PHP turn "X-Gatehouse-Roles",
// "X-Gatehouse_Roles" and "x.gatehouse.roles" alike into
// HTTP_X_GATEHOUSE_ROLES, and frameworks honour method overrides and
// identity headers set by other proxies. So a client-sent header is
// dropped when its name holds anything but letters, digits and '-' (nginx
// drops names with '_' by default), and when it names something the
// gateway alone may say: forwarding data, the original request of a
// forward-auth call, a method override, an identity. What is left is
// compared case-folded, which is how every stack reads the rest.

// IdentityHeaderPrefix marks headers that carry the gateway's view of the
// caller upstream; any the client sends are removed.
const IdentityHeaderPrefix = "X-Gatehouse-"

// Identity headers the gateway sets on every proxied request of an
// authenticated route (empty values for an anonymous caller), and on every
// forward-auth answer that allows.
const (
	HeaderSubject       = IdentityHeaderPrefix + "Subject"
	HeaderIssuer        = IdentityHeaderPrefix + "Issuer"
	HeaderTenant        = IdentityHeaderPrefix + "Tenant"
	HeaderRoles         = IdentityHeaderPrefix + "Roles"
	HeaderKeyID         = IdentityHeaderPrefix + "Key-Id"
	HeaderPrincipalKind = IdentityHeaderPrefix + "Principal-Kind"
)

// IdentityHeaders lists the identity headers, in a stable order.
var IdentityHeaders = []string{HeaderSubject, HeaderIssuer, HeaderTenant, HeaderRoles, HeaderKeyID, HeaderPrincipalKind}

// Header lists of the boundary. Names are canonical (http.CanonicalHeaderKey).
var (
	// ForwardingHeaders describe the hop and the client; the gateway
	// writes its own X-Forwarded-For, -Host and -Proto and X-Request-Id.
	// X-Forwarded-For is kept inbound: the client address is resolved
	// from it behind trusted_proxies and the proxy rewrites it.
	ForwardingHeaders = []string{
		"Forwarded", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Prefix",
		"X-Forwarded-Server", "X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Forwarded-Protocol", "X-Url-Scheme",
		"Front-End-Https", "X-Real-Ip", "X-Original-Forwarded-For", "True-Client-Ip", "Cf-Connecting-Ip",
		"X-Client-Ip", "X-Cluster-Client-Ip", "Fastly-Client-Ip", "X-Forwarded", "Forwarded-For", "X-Request-Id",
	}
	// OriginalRequestHeaders carry the request a forward-auth call asks
	// about, or a rewritten URL some stacks route on.
	OriginalRequestHeaders = []string{
		"X-Forwarded-Uri", "X-Forwarded-Method", "X-Original-Uri", "X-Original-Url", "X-Original-Method",
		"X-Original-Host", "X-Rewrite-Url", "X-Envoy-Original-Path", "X-Envoy-Original-Method",
	}
	// MethodOverrideHeaders are honoured by Express, Symfony, Rails, ASP.NET
	// and others as the "real" method: a GET-only route would run a DELETE.
	MethodOverrideHeaders = []string{"X-Http-Method-Override", "X-Method-Override", "X-Http-Method"}
	// ForeignIdentityHeaders are other proxies' ways of saying who the
	// caller is (oauth2-proxy, Apache, Authelia, Pomerium...).
	ForeignIdentityHeaders = []string{
		"Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name", "X-Remote-User", "X-Remote-Group",
		"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups", "X-Forwarded-Preferred-Username",
		"X-Forwarded-Access-Token", "X-Webauth-User", "X-Auth-User", "X-User", "X-Username", "X-Email",
		"X-Pomerium-Jwt-Assertion", "X-Pomerium-Claim-Email", "X-Ms-Client-Principal", "X-Ms-Client-Principal-Name",
		"X-Ms-Client-Principal-Id", "X-Goog-Authenticated-User-Email", "X-Goog-Authenticated-User-Id",
		"X-Amzn-Oidc-Identity", "X-Amzn-Oidc-Data", "X-Amzn-Oidc-Accesstoken", "X-Client-Cert", "X-Ssl-Client-Cert",
		"X-Ssl-Client-Dn", "X-Ssl-Client-Verify", "Ssl-Client-Cert", "X-Forwarded-Client-Cert",
		"X-Consumer-Username", "X-Consumer-Id", "X-Consumer-Custom-Id", "X-Credential-Identifier", "X-Userinfo",
		"X-Authenticated-User", "X-Authenticated-Userid", "X-Authenticated-Scope", "X-Remote-Groups", "X-Remote-Email",
		"X-Remote-Name", "X-Forwarded-Groups-Claim", "X-Id-Token", "X-Access-Token", "X-Jwt-Assertion",
	}
	// removedPrefixes are families removed whole: the gateway's own
	// identity headers and oauth2-proxy's X-Auth-Request-*.
	removedPrefixes = []string{IdentityHeaderPrefix, "X-Auth-Request-", "Cf-Access-"}
)

// Inbound decides which client-sent headers survive. Immutable after
// NewInbound; safe for concurrent use. The zero value removes only the
// built-in lists.
type Inbound struct {
	remove map[string]bool
}

// NewInbound returns the boundary with the built-in lists plus extra names
// (any case, '_' read as '-').
func NewInbound(extra []string) *Inbound {
	in := &Inbound{remove: map[string]bool{}}
	for _, list := range [][]string{ForwardingHeaders, OriginalRequestHeaders, MethodOverrideHeaders, ForeignIdentityHeaders} {
		for _, n := range list {
			in.remove[n] = true
		}
	}
	delete(in.remove, "X-Request-Id") // read (from trusted proxies only) and replaced by the gateway
	for _, n := range extra {
		in.remove[FoldName(n)] = true
	}
	return in
}

// FoldName is the canonical form of a header name as upstream stacks
// compare it: '_' is '-', case folded to http.CanonicalHeaderKey's form.
func FoldName(name string) string {
	return http.CanonicalHeaderKey(strings.ReplaceAll(name, "_", "-"))
}

// PlainName reports whether a header name holds only letters, digits and
// '-' (and does not start or end with '-'): the names every stack reads
// the same way.
func PlainName(name string) bool {
	if name == "" || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Removed reports whether a header of this name is dropped from requests.
func (in *Inbound) Removed(name string) bool {
	if !PlainName(name) {
		return true
	}
	canon := name
	if !isCanonical(name) {
		canon = http.CanonicalHeaderKey(name)
	}
	for _, p := range removedPrefixes {
		if strings.HasPrefix(canon, p) {
			return true
		}
	}
	if in == nil || in.remove == nil {
		return defaultInbound.remove[canon]
	}
	return in.remove[canon]
}

var defaultInbound = NewInbound(nil)

// Clean deletes from h every header the boundary drops, and a bare Upgrade
// (one that Connection does not name: the proxy would drop it, but a stage
// before it could read it as an upgrade). It returns how many it dropped.
func (in *Inbound) Clean(h http.Header) int {
	n := 0
	for name := range h {
		if in.Removed(name) {
			delete(h, name)
			n++
		}
	}
	if _, ok := h["Upgrade"]; ok && !IsUpgrade(h) {
		delete(h, "Upgrade")
		n++
	}
	return n
}

// IsUpgrade reports whether h asks for a protocol upgrade: an Upgrade
// header and the upgrade token in Connection (RFC 9110 7.8).
func IsUpgrade(h http.Header) bool {
	if h.Get("Upgrade") == "" {
		return false
	}
	for _, v := range h["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// isCanonical reports whether a plain name is already in canonical form.
func isCanonical(name string) bool {
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '-':
			upper = true
			continue
		case upper && 'a' <= c && c <= 'z', !upper && 'A' <= c && c <= 'Z':
			return false
		}
		upper = false
	}
	return true
}

var empty = []string{""} // len == cap: an Add by a later writer never writes into it

// SetIdentityHeaders writes the gateway's view of the caller into h: every
// identity header, empty for what the principal lacks and all empty for an
// anonymous caller, so that no upstream ever reads a value the gateway did
// not set (a header the client sent under another spelling included).
func SetIdentityHeaders(h http.Header, p *identity.Principal) {
	if p.Anonymous() {
		for _, n := range IdentityHeaders {
			h[n] = empty
		}
		return
	}
	set := func(name, v string) {
		if v == "" {
			h[name] = empty
			return
		}
		h[name] = []string{v}
	}
	set(HeaderSubject, p.Subject)
	set(HeaderIssuer, p.Issuer)
	set(HeaderTenant, p.Tenant)
	set(HeaderRoles, strings.Join(p.Roles, ","))
	set(HeaderKeyID, p.KeyID)
	set(HeaderPrincipalKind, string(p.Kind))
}
