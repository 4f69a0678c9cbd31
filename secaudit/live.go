// The live probe is black-box: it talks HTTP(S) and TLS to one host and
// port only, never follows a redirect, never fetches a URL a response
// names on another host, and stops at a request budget. It never puts a
// credential into a finding.

package secaudit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
)

// LiveOptions configure Live. URL is required; everything else has a
// default. The zero value of every optional field is usable.
type LiveOptions struct {
	// URL is the gateway's origin (https://host:port). Its path, query and
	// fragment are ignored: every probe goes to this scheme, host and port.
	URL string
	// APIKey is a valid API key of one principal (the first principal);
	// it is sent in APIKeyHeader.
	APIKey string
	// APIKeyHeader is the header the key goes in. Empty: X-API-Key.
	APIKeyHeader string
	// Token is a valid bearer token (a JWT) of the first principal. It is
	// read, never verified, to forge variants of it.
	Token string
	// OtherKey is a valid API key of a second principal, who must not reach
	// the first principal's Objects.
	OtherKey string
	// Objects are paths of objects the first principal owns and may read,
	// e.g. /api/tenants/acme/orders/1.
	Objects []string
	// AuthPath is a GET route that needs authentication, where the
	// credentials above are accepted. Empty: the first of Objects; with
	// neither, the probes that need one are skipped.
	AuthPath string
	// Destructive also sends PATCH {} and DELETE to the Objects as the
	// second principal. Off by default: a broken gateway would let them
	// change or delete data.
	Destructive bool
	// SkipQueryCredentials leaves out the probes that send the real
	// credentials in the URL query (KEY-06): the target may log URLs.
	SkipQueryCredentials bool
	// RootCAs verify the gateway's certificate. Nil: the system roots.
	RootCAs *x509.CertPool
	// Budget is the most requests (and raw TLS connections) sent. 0: 300.
	Budget int
	// Timeout bounds each request. 0: 10s.
	Timeout time.Duration
	// MaxWait is the longest the probe waits in total, over the whole run,
	// for Retry-After when rate limited. 0: 60s; negative: never wait.
	MaxWait time.Duration
	// HeaderBytes, URIBytes and BodyBytes are the sizes of the oversized
	// requests. 0: 64KiB, 32KiB and 8MiB.
	HeaderBytes, URIBytes, BodyBytes int
	// Now is the clock forged tokens are dated by. Nil: time.Now.
	Now func() time.Time
}

// Live probes the gateway at o.URL and returns what it found. An error
// means the probe could not run at all (a bad URL, the host unreachable);
// what a single probe could not decide is an info finding. Live is safe to
// call concurrently; each call has its own budget.
func Live(ctx context.Context, o LiveOptions) ([]finding.Finding, error) {
	p, err := newProber(o)
	if err != nil {
		return nil, err
	}
	if err := p.reachable(ctx); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		name string
		run  func(context.Context)
	}{
		{"tls", p.probeTLS},
		{"headers", p.probeHeaders},
		{"cross-principal", p.probeCrossPrincipal},
		{"query-credentials", p.probeQueryCredentials},
		{"jwt", p.probeJWT},
		{"path", p.probePaths},
		{"smuggling", p.probeSmuggling},
		{"oversize", p.probeOversize},
	} {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if p.exhausted() {
			p.skip(s.name)
			continue
		}
		s.run(ctx)
	}
	p.budgetFinding()
	return p.results(), nil
}

// prober is one run of Live: the target, the budget and the findings.
type prober struct {
	o       LiveOptions
	origin  string // scheme://host:port
	scheme  string
	host    string // as in the URL, for Host and SNI
	addr    string // host:port dialled
	secrets []string
	now     func() time.Time

	mu       sync.Mutex
	spent    int
	waited   time.Duration
	skipped  []string
	findings []finding.Finding
	insecure bool // the certificate did not verify: probes go on without verifying
	client   *http.Client
	rules    map[string]finding.Rule
	seen     map[string]bool // de-duplicates findings
	unauth   *answer         // GET AuthPath without credentials, once asked
}

func newProber(o LiveOptions) (*prober, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("secaudit: --url %q: want https://host[:port]", o.URL)
	}
	if u.User != nil {
		return nil, errors.New("secaudit: the URL must not carry user info; pass credentials as options")
	}
	if o.Budget <= 0 {
		o.Budget = 300
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxWait == 0 {
		o.MaxWait = 60 * time.Second
	}
	if o.HeaderBytes <= 0 {
		o.HeaderBytes = 64 << 10
	}
	if o.URIBytes <= 0 {
		o.URIBytes = 32 << 10
	}
	if o.BodyBytes <= 0 {
		o.BodyBytes = 8 << 20
	}
	if o.APIKeyHeader == "" {
		o.APIKeyHeader = "X-API-Key"
	}
	if o.AuthPath == "" && len(o.Objects) > 0 {
		o.AuthPath = o.Objects[0]
	}
	for _, pth := range append([]string{o.AuthPath}, o.Objects...) {
		if pth != "" && !strings.HasPrefix(pth, "/") {
			return nil, fmt.Errorf("secaudit: path %q: want an absolute path (/...)", pth)
		}
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	p := &prober{o: o, scheme: u.Scheme, host: u.Hostname(), now: o.Now, rules: map[string]finding.Rule{}, seen: map[string]bool{}}
	p.addr = net.JoinHostPort(p.host, port)
	p.origin = u.Scheme + "://" + u.Host
	if p.now == nil {
		p.now = time.Now
	}
	for _, s := range []string{o.APIKey, o.Token, o.OtherKey} {
		if s != "" {
			p.secrets = append(p.secrets, s, url.QueryEscape(s), url.PathEscape(s))
		}
	}
	for _, r := range LiveRules() {
		p.rules[r.ID] = r
	}
	p.client = p.newClient()
	return p, nil
}

// tlsConfig is the client TLS config of every probe but the version and
// suite ones: verifying until the certificate failed to verify once.
func (p *prober) tlsConfig() *tls.Config {
	p.mu.Lock()
	insecure := p.insecure
	p.mu.Unlock()
	return &tls.Config{ServerName: p.host, RootCAs: p.o.RootCAs, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12} //nolint:gosec // only after a finding says the certificate does not verify
}

// newClient is the HTTP client of the ordinary probes: no proxy, no
// redirects, no cookies, and a dialer that connects to the target only.
func (p *prober) newClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 nil, // never a proxy from the environment: that would be another host
		DialContext:           p.dialTarget,
		TLSClientConfig:       p.tlsConfig(),
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   p.o.Timeout,
		ResponseHeaderTimeout: p.o.Timeout,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
		DisableCompression:    true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       p.o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// dialTarget connects to the target's address and to nothing else.
func (p *prober) dialTarget(ctx context.Context, network, addr string) (net.Conn, error) {
	if addr != p.addr {
		return nil, fmt.Errorf("secaudit: refusing to connect to %s: only %s is probed", addr, p.addr)
	}
	d := net.Dialer{Timeout: p.o.Timeout}
	return d.DialContext(ctx, network, addr)
}

// spend takes one request from the budget; false when it is spent.
func (p *prober) spend() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.spent >= p.o.Budget {
		return false
	}
	p.spent++
	return true
}

func (p *prober) exhausted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.spent >= p.o.Budget
}

// skip records a probe left out because the budget was spent.
func (p *prober) skip(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.skipped {
		if s == name {
			return
		}
	}
	p.skipped = append(p.skipped, name)
}

// budgetFinding reports the probes the budget left out.
func (p *prober) budgetFinding() {
	p.mu.Lock()
	skipped := append([]string(nil), p.skipped...)
	spent := p.spent
	p.mu.Unlock()
	if len(skipped) == 0 {
		return
	}
	sort.Strings(skipped)
	p.report(ruleBudget, p.origin, fmt.Sprintf("the request budget (%d) was spent after %d requests; skipped, in whole or in part: %s", p.o.Budget, spent, strings.Join(skipped, ", ")))
}

// report adds a finding of rule id at target with message; credentials
// are redacted from both, and a repeated finding is kept once.
func (p *prober) report(id, target, message string) {
	r, ok := p.rules[id]
	if !ok {
		panic("secaudit: unknown live rule " + id)
	}
	target, message = p.redact(target), p.redact(message)
	p.mu.Lock()
	defer p.mu.Unlock()
	k := id + "\x00" + target + "\x00" + message
	if p.seen[k] {
		return
	}
	p.seen[k] = true
	p.findings = append(p.findings, finding.Finding{Rule: r, Message: message, Location: finding.Location{URL: target}})
}

// inconclusive reports that a probe could not decide.
func (p *prober) inconclusive(target, format string, args ...any) {
	p.report(ruleInconclusive, target, fmt.Sprintf(format, args...))
}

func (p *prober) results() []finding.Finding {
	p.mu.Lock()
	defer p.mu.Unlock()
	fs := append([]finding.Finding(nil), p.findings...)
	finding.Sort(fs)
	return fs
}

// redact replaces every credential (and its URL-escaped forms) by REDACTED.
func (p *prober) redact(s string) string {
	for _, c := range p.secrets {
		if c != "" {
			s = strings.ReplaceAll(s, c, "REDACTED")
		}
	}
	return s
}

// at is the URL a finding names for a request-target.
func (p *prober) at(target string) string { return p.origin + target }

// reachable checks that the target answers at all, so that a wrong URL is
// an error rather than a page of findings.
func (p *prober) reachable(ctx context.Context) error {
	if !p.spend() {
		return errors.New("secaudit: the request budget is zero")
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return fmt.Errorf("secaudit: %s is not reachable: %w", p.addr, err)
	}
	return conn.Close()
}

// authHeaders are the first principal's credentials as headers.
func (p *prober) keyHeader(key string) http.Header {
	if key == "" {
		return nil
	}
	return http.Header{p.o.APIKeyHeader: {key}}
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
