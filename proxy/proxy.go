// Package proxy forwards requests to a set of equivalent upstream URLs.
//
// It builds on httputil.ReverseProxy with Rewrite, and adds what a gateway
// needs (PRX-01, PRX-07, TLS-07): round robin with passive health (a target
// that fails to connect is skipped for a while and the request is retried
// once on another target when nothing was sent yet), the gateway's own
// forwarded headers in place of anything the client sent, removal of banner
// headers from responses, and problem+json answers for upstream failures
// (502, 504). Redirects from upstreams are passed back, never followed.
//
// A Proxy is immutable after New and safe for concurrent use.
package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/record"
)

// Options configure a Proxy.
type Options struct {
	Targets      []*url.URL
	StripPrefix  string
	PreserveHost bool
	UnhealthyFor time.Duration
	// Transport bounds each exchange: its dial, TLS handshake and
	// response-header timeouts (see NewTransport). There is no per-request
	// timer on top.
	Transport http.RoundTripper
	// TrustedPeer reports whether the connection peer is a trusted proxy,
	// whose X-Forwarded-For chain is kept and extended.
	TrustedPeer func(netip.Addr) bool
	// Inbound removes the client-sent headers upstreams must not believe
	// (PRX-08, PRX-09); nil means the built-in lists.
	Inbound *Inbound
	// OnError is told of every upstream failure (for metrics and logs).
	OnError func(r *http.Request, target string, kind string, err error)
	Log     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Proxy is an http.Handler that sends requests upstream.
type Proxy struct {
	opts    Options
	targets []*target
	next    atomic.Uint64
	rp      *httputil.ReverseProxy
	now     func() time.Time
}

type target struct {
	url       *url.URL
	key       string // scheme://host, as seen on outgoing requests
	downUntil atomic.Int64
}

// ResponseHeadersRemoved are dropped from every upstream response (HDR-01).
var ResponseHeadersRemoved = []string{"Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version"}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

type bufferPool struct{}

func (bufferPool) Get() []byte  { return *(bufPool.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { bufPool.Put(&b) }

// New returns a proxy for opts. Targets must be absolute http(s) URLs.
func New(opts Options) (*Proxy, error) {
	if len(opts.Targets) == 0 {
		return nil, errors.New("proxy: no targets")
	}
	if opts.Transport == nil {
		return nil, errors.New("proxy: a Transport is required (never http.DefaultTransport)")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.TrustedPeer == nil {
		opts.TrustedPeer = func(netip.Addr) bool { return false }
	}
	p := &Proxy{opts: opts, now: opts.Now}
	if p.now == nil {
		p.now = time.Now
	}
	for _, u := range opts.Targets {
		p.targets = append(p.targets, &target{url: u, key: u.Scheme + "://" + u.Host})
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      &retryTransport{p: p, base: opts.Transport},
		BufferPool:     bufferPool{},
		ModifyResponse: modifyResponse,
		ErrorHandler:   p.errorHandler,
		ErrorLog:       slog.NewLogLogger(opts.Log.Handler(), slog.LevelDebug),
	}
	return p, nil
}

// ServeHTTP forwards r upstream.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.rp.ServeHTTP(w, r) }

// pick returns the next healthy target in round-robin order; when all are
// down it returns the next one anyway (trying beats refusing).
func (p *Proxy) pick(exclude *target) *target {
	n := uint64(len(p.targets))
	start := p.next.Add(1)
	now := p.now().UnixNano()
	for i := range n {
		t := p.targets[(start+i)%n]
		if t != exclude && t.downUntil.Load() <= now {
			return t
		}
	}
	if exclude != nil {
		return nil
	}
	return p.targets[start%n]
}

func (p *Proxy) markDown(t *target) {
	if p.opts.UnhealthyFor > 0 {
		t.downUntil.Store(p.now().Add(p.opts.UnhealthyFor).UnixNano())
	}
}

func (p *Proxy) byKey(u *url.URL) *target {
	key := u.Scheme + "://" + u.Host
	for _, t := range p.targets {
		if t.key == key {
			return t
		}
	}
	return nil
}

func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	t := p.pick(nil)
	in, out := pr.In, pr.Out
	if p.opts.StripPrefix != "" {
		out.URL.Path = stripPrefix(out.URL.Path, p.opts.StripPrefix)
		if out.URL.RawPath != "" {
			out.URL.RawPath = stripPrefix(out.URL.RawPath, p.opts.StripPrefix)
		}
	}
	pr.SetURL(t.url)
	record.From(in.Context()).SetUpstream(t.url.Host)
	if p.opts.PreserveHost {
		out.Host = in.Host
	}
	h := out.Header
	// The global stage cleaned the inbound headers already; this is the
	// proxy's own guarantee for callers that use it alone.
	p.opts.Inbound.Clean(h)
	// X-Forwarded-*: the gateway's own values. A trusted proxy's chain is
	// kept and extended with its address; anyone else's is dropped.
	peer := peerAddr(in.RemoteAddr)
	xff := peer
	if a, err := netip.ParseAddr(peer); err == nil && p.opts.TrustedPeer(a.Unmap()) {
		if prior := strings.Join(in.Header.Values("X-Forwarded-For"), ", "); prior != "" {
			xff = prior + ", " + peer
		}
	}
	if xff != "" {
		h.Set("X-Forwarded-For", xff)
	}
	h.Set("X-Forwarded-Host", in.Host)
	if in.TLS != nil {
		h.Set("X-Forwarded-Proto", "https")
	} else {
		h.Set("X-Forwarded-Proto", "http")
	}
	if id := problem.RequestID(in.Context()); id != "" {
		h.Set("X-Request-Id", id)
	}
	// The gateway's view of the caller, after every client-sent
	// X-Gatehouse-* header (in any spelling) was removed above.
	// Anonymous callers get none (every client-sent spelling is gone);
	// callers of authenticated routes get all six, blank when empty.
	if p := identity.From(in.Context()); !p.Anonymous() {
		SetIdentityHeaders(h, p)
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = nil // do not let Go add its own
	}
}

func peerAddr(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}

func stripPrefix(path, prefix string) string {
	if rest, ok := strings.CutPrefix(path, prefix); ok && (rest == "" || rest[0] == '/' || strings.HasSuffix(prefix, "/")) {
		if rest == "" || rest[0] != '/' {
			rest = "/" + rest
		}
		return rest
	}
	return path
}

// securityHeaders are set by the gateway on every response; upstream values are dropped.
var securityHeaders = []string{"X-Content-Type-Options", "Referrer-Policy", "Strict-Transport-Security"}

func modifyResponse(res *http.Response) error {
	for _, name := range ResponseHeadersRemoved {
		res.Header.Del(name)
	}
	for _, name := range securityHeaders {
		res.Header.Del(name)
	}
	return nil
}

// Error kinds given to Options.OnError.
const (
	KindConnect      = "connect"
	KindTimeout      = "timeout"
	KindBodyTooLarge = "body_too_large"
	KindCanceled     = "client_canceled"
	KindProtocol     = "upstream_error"
)

// Classify names the kind of an upstream error.
func Classify(ctx context.Context, err error) string {
	var mbe *http.MaxBytesError
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &mbe):
		return KindBodyTooLarge
	case errors.Is(err, context.Canceled) && ctx.Err() == context.Canceled:
		return KindCanceled
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.As(err, &oe) && oe.Op == "dial":
		return KindConnect
	}
	return KindProtocol
}

func (p *Proxy) errorHandler(w http.ResponseWriter, out *http.Request, err error) {
	kind := Classify(out.Context(), err)
	if kind == KindConnect || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) {
		if t := p.byKey(out.URL); t != nil {
			p.markDown(t)
		}
	}
	if p.opts.OnError != nil {
		p.opts.OnError(out, out.URL.Host, kind, err)
	}
	switch kind {
	case KindCanceled:
		// The client went away: nobody to answer.
		problem.Write(w, out, problem.New(499, problem.TypeBadRequest, "the client closed the request").Wrap(err))
	case KindBodyTooLarge:
		problem.Write(w, out, problem.New(http.StatusRequestEntityTooLarge, problem.TypeBodyTooLarge, "the request body is larger than this route allows").Wrap(err))
	case KindTimeout:
		problem.Write(w, out, problem.New(http.StatusGatewayTimeout, problem.TypeGatewayTimeout, "the upstream did not answer in time").Wrap(err))
	default:
		problem.Write(w, out, problem.New(http.StatusBadGateway, problem.TypeBadGateway, "the upstream could not be reached or sent an invalid response").Wrap(err))
	}
}

// retryTransport retries a request once on another target when the first
// could not even be connected to, so nothing was sent and a retry is safe
// for any method.
type retryTransport struct {
	p    *Proxy
	base http.RoundTripper
}

func (rt *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := rt.base.RoundTrip(req)
	if err == nil || Classify(req.Context(), err) != KindConnect || len(rt.p.targets) < 2 {
		return res, err
	}
	failed := rt.p.byKey(req.URL)
	if failed == nil {
		return res, err
	}
	rt.p.markDown(failed)
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return res, err
	}
	alt := rt.p.pick(failed)
	if alt == nil {
		return res, err
	}
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	retry.URL.Scheme, retry.URL.Host = alt.url.Scheme, alt.url.Host
	if !rt.p.opts.PreserveHost {
		retry.Host = ""
	}
	return rt.base.RoundTrip(retry)
}
