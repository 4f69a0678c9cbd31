package secaudit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// randomName is a path segment no real route has.
func randomName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "gatehouse-audit-" + hex.EncodeToString(b)
}

// failed handles a send error: a spent budget skips the probe, anything
// else is an inconclusive finding. It reports whether err was non-nil.
func (p *prober) failed(probe, target string, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, errBudget):
		p.skip(probe)
	default:
		p.inconclusive(p.at(target), "%s: the request failed: %v", probe, err)
	}
	return true
}

// probeHeaders looks at three answers (an unknown path, the auth path
// without and with credentials) for HSTS, the security headers, banners,
// and, on errors, problem+json and Cache-Control: no-store.
func (p *prober) probeHeaders(ctx context.Context) {
	type sample struct {
		target, what string
		h            http.Header
		wantStatus   int // an error the gateway itself answers; 0 for none
	}
	var samples []sample
	unknown := "/" + randomName() + "/not-found"
	a, err := p.do(ctx, http.MethodGet, unknown, nil, nil)
	if p.failed("headers", unknown, err) {
		return
	}
	samples = append(samples, sample{unknown, "an unknown path", a.header, http.StatusNotFound})
	p.checkProblem(unknown, "an unknown path", a, http.StatusNotFound)
	if p.o.AuthPath != "" {
		a, err := p.unauthenticated(ctx)
		if p.failed("headers", p.o.AuthPath, err) {
			return
		}
		samples = append(samples, sample{p.o.AuthPath, "a request without credentials", a.header, http.StatusUnauthorized})
		p.checkProblem(p.o.AuthPath, "a request without credentials", a, http.StatusUnauthorized)
		if h := p.credentialHeader(); h != nil {
			a, err := p.do(ctx, http.MethodGet, p.o.AuthPath, h, nil)
			if p.failed("headers", p.o.AuthPath, err) {
				return
			}
			samples = append(samples, sample{p.o.AuthPath, "an authenticated request", a.header, 0})
		}
	}
	for _, s := range samples {
		at := p.at(s.target)
		if p.scheme == "https" {
			if age, ok := hstsMaxAge(s.h.Get("Strict-Transport-Security")); !ok {
				p.report(ruleHSTS, at, fmt.Sprintf("the answer to %s has no Strict-Transport-Security header", s.what))
			} else if age < hstsMinAge {
				p.report(ruleHSTS, at, fmt.Sprintf("the answer to %s has Strict-Transport-Security max-age=%d, below one year (%d)", s.what, age, hstsMinAge))
			}
		}
		if v := s.h.Get("X-Content-Type-Options"); !strings.EqualFold(strings.TrimSpace(v), "nosniff") {
			p.report(ruleSecurityHeaders, at, fmt.Sprintf("the answer to %s has X-Content-Type-Options %q, want nosniff", s.what, v))
		}
		if v := s.h.Get("Referrer-Policy"); v == "" {
			p.report(ruleSecurityHeaders, at, fmt.Sprintf("the answer to %s has no Referrer-Policy", s.what))
		}
		if v := s.h.Get("Content-Security-Policy"); !strings.Contains(v, "frame-ancestors") {
			p.report(ruleSecurityHeaders, at, fmt.Sprintf("the answer to %s has no Content-Security-Policy frame-ancestors (got %q)", s.what, v))
		}
		for _, n := range []string{"Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version"} {
			if v := s.h.Get(n); v != "" {
				p.report(ruleBanner, at, fmt.Sprintf("the answer to %s has %s: %q", s.what, n, v))
			}
		}
		if s.wantStatus != 0 && !strings.Contains(strings.ToLower(s.h.Get("Cache-Control")), "no-store") {
			p.report(ruleErrorCache, at, fmt.Sprintf("the error answering %s has Cache-Control %q, want no-store", s.what, s.h.Get("Cache-Control")))
		}
	}
}

// hstsMaxAge reads max-age from a Strict-Transport-Security value.
func hstsMaxAge(v string) (int, bool) {
	for _, part := range strings.Split(v, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.EqualFold(strings.TrimSpace(k), "max-age") {
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
			return n, err == nil
		}
	}
	return 0, false
}

// checkProblem reports an error that is not problem+json with a matching
// status; want is the expected status (a different one is only noted).
func (p *prober) checkProblem(target, what string, a answer, want int) {
	at := p.at(target)
	if a.status < 400 {
		if want == http.StatusUnauthorized {
			p.inconclusive(at, "%s to the auth path was answered %d, not refused: the probes that need a protected route prove little there", what, a.status)
		}
		return
	}
	if a.status != want && !(want == http.StatusUnauthorized && a.status == http.StatusForbidden) {
		p.inconclusive(at, "%s was answered %d, expected %d", what, a.status, want)
	}
	mt, _, _ := mime.ParseMediaType(a.header.Get("Content-Type"))
	if mt != "application/problem+json" {
		p.report(ruleProblemJSON, at, fmt.Sprintf("%s got %d with Content-Type %q", what, a.status, a.header.Get("Content-Type")))
		return
	}
	var doc struct {
		Status int `json:"status"`
	}
	if err := json.Unmarshal(a.body, &doc); err != nil || doc.Status != a.status {
		p.report(ruleProblemJSON, at, fmt.Sprintf("%s got a %d problem whose body has status %d (or is not JSON)", what, a.status, doc.Status))
	}
}

// unauthenticated is GET AuthPath without credentials, asked once.
func (p *prober) unauthenticated(ctx context.Context) (answer, error) {
	p.mu.Lock()
	if p.unauth != nil {
		a := *p.unauth
		p.mu.Unlock()
		return a, nil
	}
	p.mu.Unlock()
	a, err := p.do(ctx, http.MethodGet, p.o.AuthPath, nil, nil)
	if err == nil {
		p.mu.Lock()
		p.unauth = &a
		p.mu.Unlock()
	}
	return a, err
}

// protected reports whether AuthPath refuses a request without
// credentials (401/403), so that a 2xx to a trick means the trick worked.
func (p *prober) protected(ctx context.Context, probe string) bool {
	if p.o.AuthPath == "" {
		p.inconclusive(p.origin, "%s: no --auth-path or --object given, so there is no protected route to probe", probe)
		return false
	}
	a, err := p.unauthenticated(ctx)
	if p.failed(probe, p.o.AuthPath, err) {
		return false
	}
	if a.status != http.StatusUnauthorized && a.status != http.StatusForbidden {
		p.inconclusive(p.at(p.o.AuthPath), "%s: GET without credentials was answered %d, not 401/403; skipped", probe, a.status)
		return false
	}
	return true
}

// probeQueryCredentials sends the real credentials in the query only:
// they must not authenticate (KEY-06, OA-10).
func (p *prober) probeQueryCredentials(ctx context.Context) {
	if p.o.SkipQueryCredentials || (p.o.APIKey == "" && p.o.Token == "") || !p.protected(ctx, "query-credentials") {
		return
	}
	var targets []string
	sep := "?"
	if strings.Contains(p.o.AuthPath, "?") {
		sep = "&"
	}
	if k := p.o.APIKey; k != "" {
		for _, n := range []string{"api_key", "apikey", "key", "api-key", "%61pi_key", "api%5Fkey", "API_KEY"} {
			targets = append(targets, p.o.AuthPath+sep+n+"="+queryEscape(k))
		}
	}
	if t := p.o.Token; t != "" {
		for _, n := range []string{"access_token", "%61ccess_token", "access%5Ftoken", "token"} {
			targets = append(targets, p.o.AuthPath+sep+n+"="+queryEscape(t))
		}
	}
	for _, target := range targets {
		a, err := p.do(ctx, http.MethodGet, target, nil, nil)
		if p.failed("query-credentials", target, err) {
			continue
		}
		if a.ok() {
			name, _, _ := strings.Cut(target[len(p.o.AuthPath)+1:], "=")
			p.report(ruleQueryCredential, p.at(target), fmt.Sprintf("a credential in the query parameter %q, with no header, was answered %d", name, a.status))
		}
	}
}

// queryEscape escapes a credential for a query value, keeping the
// characters keys and JWTs use as they are.
func queryEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// pathVariants are request-targets that stacks resolve to target
// differently: dot segments (plain, encoded, double encoded, with ';'),
// encoded slashes and backslashes, and ';' parameters.
func pathVariants(target string) []string {
	rest := strings.TrimPrefix(target, "/")
	first, tail, hasTail := strings.Cut(rest, "/")
	const d = "gatehouse-audit"
	vs := []string{
		"/" + d + "/../" + rest,
		"/" + d + "/%2e%2e/" + rest,
		"/" + d + "/%2E%2E/" + rest,
		"/" + d + "/.%2e/" + rest,
		"/" + d + "/%252e%252e/" + rest,
		"/" + d + "/..;/" + rest,
		"/" + d + "/..%3b/" + rest,
		"/" + d + "%2f..%2f" + rest,
		"/" + d + "%252f..%252f" + rest,
		"/" + d + "/..%5c" + rest,
		"/" + d + "%5c..%5c" + rest,
		"/./" + rest,
		"//" + rest,
	}
	if hasTail {
		vs = append(vs,
			"/"+first+"%2f"+strings.ReplaceAll(tail, "/", "%2f"),
			"/"+first+"%5c"+strings.ReplaceAll(tail, "/", "%5c"),
			"/"+first+"%252f"+strings.ReplaceAll(tail, "/", "%252f"),
			"/"+first+";x=1/"+tail,
		)
	}
	vs = append(vs, target+";x=1", target+"%00", target+"/.")
	return vs
}

// probePaths sends the path variants of AuthPath without credentials: a
// 2xx where the plain path is refused is a bypass, a 5xx a parser failing
// (PRX-05, PRX-11). The requests go out raw, byte for byte.
func (p *prober) probePaths(ctx context.Context) {
	if !p.protected(ctx, "path") {
		return
	}
	target, _, _ := strings.Cut(p.o.AuthPath, "?")
	for _, v := range pathVariants(target) {
		a, err := p.raw(ctx, p.rawRequest(http.MethodGet, v, []string{"Connection: close"}, nil), false)
		if p.failed("path", v, err) {
			continue
		}
		switch {
		case a.ok():
			p.report(rulePathBypass, p.at(v), fmt.Sprintf("GET %s without credentials was answered %d, while GET %s without credentials is refused", v, a.status, target))
		case a.status >= 500:
			p.report(rulePath5xx, p.at(v), fmt.Sprintf("GET %s was answered %d", v, a.status))
		}
	}
}

// probeSmuggling sends requests framed by both Content-Length and
// Transfer-Encoding (plain and obfuscated) with a second request after
// the body: a second answer means smuggling; an answer other than a
// refusal is noted (PRX-03).
func (p *prober) probeSmuggling(ctx context.Context) {
	target := p.o.AuthPath
	if target == "" {
		target = "/"
	}
	body := "0\r\n\r\n"
	smuggled := fmt.Sprintf("GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n", randomName(), p.hostHeader())
	for _, te := range []struct{ what, line string }{
		{"Content-Length with Transfer-Encoding: chunked", "Transfer-Encoding: chunked"},
		{"Content-Length with Transfer-Encoding: CHUNKED", "Transfer-Encoding: CHUNKED"},
		{"Content-Length with Transfer-Encoding:<tab>chunked", "Transfer-Encoding:\tchunked"},
		{"Content-Length with Transfer-Encoding: xchunked", "Transfer-Encoding: xchunked"},
		{"Content-Length with Transfer-Encoding: chunked, identity", "Transfer-Encoding: chunked, identity"},
		{"Content-Length with Transfer-Encoding: chunked twice-listed with identity", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity"},
		{"Content-Length with 'Transfer-Encoding : chunked' (space before colon)", "Transfer-Encoding : chunked"},
	} {
		lines := []string{"Content-Length: " + strconv.Itoa(len(body)), te.line}
		req := p.rawRequest(http.MethodPost, target, lines, []byte(body+smuggled))
		a, err := p.raw(ctx, req, true)
		if errors.Is(err, errBudget) {
			p.skip("smuggling")
			return
		}
		if errors.Is(err, errRateLimited) {
			p.failed("smuggling", target, err)
			continue
		}
		if err != nil {
			continue // the server closed without an answer: refused
		}
		if a.second != 0 {
			p.report(ruleSmuggled, p.at(target), fmt.Sprintf("POST with %s was answered %d, and the bytes after its body were answered as a second request (%d)", te.what, a.status, a.second))
			continue
		}
		switch a.status {
		case http.StatusBadRequest, http.StatusNotImplemented, http.StatusLengthRequired, http.StatusRequestEntityTooLarge, http.StatusRequestHeaderFieldsTooLarge:
		default:
			p.report(ruleFraming, p.at(target), fmt.Sprintf("POST with %s was answered %d (not refused with 400); the connection was closed after it", te.what, a.status))
		}
	}
}

// probeOversize sends a header block, a URI and a body past the sizes
// set, with the first principal's credentials: each must be refused with
// a 4xx, not accepted, failed (5xx) or left without an answer (PRX-04).
func (p *prober) probeOversize(ctx context.Context) {
	target := p.o.AuthPath
	if target == "" {
		target = "/"
	}
	creds := p.credentialLines()
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	bigURI := target + sep + "gatehouse_audit_pad=" + strings.Repeat("a", p.o.URIBytes)
	for _, c := range []struct {
		what, method, target string
		lines                []string
		body                 []byte
		want                 string
	}{
		{fmt.Sprintf("a %d-byte header block", p.o.HeaderBytes), http.MethodGet, target,
			append(append([]string{}, creds...), "X-Gatehouse-Audit-Pad: "+strings.Repeat("a", p.o.HeaderBytes)), nil, "431"},
		{fmt.Sprintf("a %d-byte URI", len(bigURI)), http.MethodGet, bigURI, creds, nil, "414"},
		{fmt.Sprintf("a %d-byte body", p.o.BodyBytes), http.MethodPost, target,
			append(append([]string{}, creds...), "Content-Type: application/json", "Content-Length: "+strconv.Itoa(p.o.BodyBytes)),
			make([]byte, p.o.BodyBytes), "413"},
	} {
		req := p.rawRequest(c.method, c.target, append(c.lines, "Connection: close"), c.body)
		at := c.target
		if len(at) > 120 {
			at = at[:120] + "..."
		}
		a, err := p.raw(ctx, req, false)
		if errors.Is(err, errBudget) {
			p.skip("oversize")
			return
		}
		switch {
		case errors.Is(err, errRateLimited):
			p.failed("oversize", at, err)
		case err != nil && isTimeout(err):
			p.report(ruleOversize, p.at(at), fmt.Sprintf("%s got no answer within %s", c.what, p.o.Timeout))
		case err != nil:
			// closed without an answer: refused, if tersely
		case a.ok():
			p.report(ruleOversize, p.at(at), fmt.Sprintf("%s was accepted (%d), want %s", c.what, a.status, c.want))
		case a.status >= 500:
			p.report(ruleOversize, p.at(at), fmt.Sprintf("%s was answered %d, want %s", c.what, a.status, c.want))
		}
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
