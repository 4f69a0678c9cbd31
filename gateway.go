package gatehouse

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	keys "github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authn/jwt"
	"github.com/gatehouse-dev/gatehouse/clientip"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/proxy"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
)

// Deps is the long-lived state that survives reloads: loggers, metrics and
// upstream connection pools. Zero fields get defaults in New.
type Deps struct {
	Log *slog.Logger // operational log
	// AccessLog receives one JSON line per request; nil means os.Stderr.
	// Wrap it in a BufferedLog to batch writes.
	AccessLog  io.Writer
	Metrics    *Metrics
	Transports *proxy.Transports
	// RateLimiter keeps rate-limit counters across reloads; nil means an
	// in-memory backend.
	RateLimiter ratelimit.Limiter
	// Events receives security events (authorization denials); nil drops them.
	Events audit.Sink
	// OAuth is the built-in authorization server, served on the public
	// listener and trusted by auth.jwt; nil without an oauth block.
	OAuth *oauth.Server
	// TokenRevocations, when set, is asked on every JWT-authenticated
	// request whether the token (jti) or its subject is revoked.
	TokenRevocations jwt.Revocations
	// APIKeys verifies API keys; nil when api_keys.secret is not set
	// (routes with auth.api_key then fail to compile).
	APIKeys *keys.Manager
	Now     func() time.Time
}

// Gateway is the public http.Handler: it serves every request from the
// snapshot current when the request started. Reload swaps the snapshot
// atomically. Safe for concurrent use.
type Gateway struct {
	deps    Deps
	mu      sync.Mutex // serialises reloads
	snap    atomic.Pointer[snapshot]
	static  staticSettings
	issuers map[string]*jwt.Issuer // by settings; kept across reloads while their settings stay: their key caches survive
}

// snapshot is one compiled, immutable config.
type snapshot struct {
	cfg        *Config
	deps       Deps
	mux        *http.ServeMux
	resolver   *clientip.Resolver
	maxURI     int
	accessLog  bool
	unmatched  *routeMetrics
	tlsHandler http.Handler
	plain      http.Handler
	transports map[string]bool
	policies   *policy.Engine
	checkMux   *http.ServeMux // the same routes, running only their checks
	forward    http.Handler   // the forward-auth endpoint
	verifier   *jwt.Verifier  // nil without jwt.issuers
	inbound    *proxy.Inbound // which client-sent headers survive
	// forwardMode reads the original request of forward-auth calls; nil
	// without forward_auth.
	forwardMode *forwardMode
	// redirectHosts are the names the plain listener redirects for, and
	// httpsPort the public listener's ":port" ("" for 443).
	redirectHosts map[string]bool
	httpsPort     string
}

// route is one compiled route; it is the handler registered on the mux.
type route struct {
	name        string
	maxBody     int64
	browser     bool
	metrics     *routeMetrics
	chain       http.Handler
	check       http.Handler // the checks alone, answering 200: forward auth
	preAuth     stage        // rate limit by pre-auth keys; nil when none
	authn       stage        // authentication; nil for public routes
	postAuth    stage        // rate limit by principal; nil when none
	authorize   stage        // Cedar policies; nil when the route has none
	validate    stage        // OpenAPI request check; nil when the route has none
	concurrency stage
	responses   stage // OpenAPI response check; nil when off
}

// ServeHTTP is called by the mux for a matched request. The mux is handed a
// matchWriter; the route takes the real writer back out of it and marks
// the request matched.
func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.dispatch(w, r, rt.chain) }

func (rt *route) dispatch(w http.ResponseWriter, r *http.Request, h http.Handler) {
	if mw, ok := w.(*matchWriter); ok {
		mw.matched = true
		if mw.st != nil {
			mw.st.route = rt
		}
		w = mw.ResponseWriter
	}
	h.ServeHTTP(w, r)
}

// routeCheck is a route as registered on the check mux (forward auth).
type routeCheck struct{ rt *route }

func (c routeCheck) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.rt.dispatch(w, r, c.rt.check)
}

// matchWriter is what the mux writes to. When the mux finds no route, its
// own not-found, method-not-allowed or redirect handler writes here instead:
// the writes are captured (status, Allow) and the gateway answers with a
// problem. It lives inside reqState, so matching allocates nothing.
type matchWriter struct {
	http.ResponseWriter
	st      *reqState
	matched bool
	status  int
	scratch http.Header
}

func (mw *matchWriter) Header() http.Header {
	if mw.matched {
		return mw.ResponseWriter.Header()
	}
	if mw.scratch == nil {
		mw.scratch = http.Header{}
	}
	return mw.scratch
}

func (mw *matchWriter) WriteHeader(code int) {
	if mw.matched {
		mw.ResponseWriter.WriteHeader(code)
		return
	}
	mw.status = code
}

func (mw *matchWriter) Write(b []byte) (int, error) {
	if mw.matched {
		return mw.ResponseWriter.Write(b)
	}
	return len(b), nil
}

// staticSettings are read once; changing them needs a restart.
type staticSettings struct {
	DataDir   string
	Listen    Listen
	HTTP      *HTTP
	Admin     Admin
	Server    Server
	Log       Log
	RateLimit RateLimitBackend
	OAuth     *OAuthServer
}

func staticOf(c *Config) staticSettings {
	return staticSettings{c.DataDir, c.Listen, c.HTTP, c.Admin, c.Server, c.Log, c.RateLimit, c.OAuth}
}

// New compiles cfg into a gateway.
func New(cfg *Config, deps Deps) (*Gateway, error) {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.AccessLog == nil {
		deps.AccessLog = os.Stderr
	}
	if deps.Metrics == nil {
		deps.Metrics = NewMetrics()
	}
	if deps.Transports == nil {
		deps.Transports = &proxy.Transports{}
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Events == nil {
		deps.Events = audit.Discard{}
	}
	if deps.RateLimiter == nil {
		deps.RateLimiter = ratelimit.NewMemory(ratelimit.MemoryOptions{MaxKeys: cfg.RateLimit.MaxKeys, Now: deps.Now})
	}
	g := &Gateway{deps: deps, static: staticOf(cfg)}
	s, err := g.compile(cfg)
	if err != nil {
		return nil, err
	}
	g.snap.Store(s)
	return g, nil
}

// Metrics returns the gateway's metrics.
func (g *Gateway) Metrics() *Metrics { return g.deps.Metrics }

// Config returns the config currently serving.
func (g *Gateway) Config() *Config { return g.snap.Load().cfg }

// ServeHTTP serves a request that arrived over HTTPS.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.snap.Load().tlsHandler.ServeHTTP(w, r)
}

// PlainHandler serves the optional plain-HTTP listener: API requests get a
// problem (TLS-06), browser routes a 308 to HTTPS.
func (g *Gateway) PlainHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.snap.Load().plain.ServeHTTP(w, r)
	})
}

// Reload compiles cfg and swaps it in, all or nothing (CFG-03). On error the
// current snapshot keeps serving. Changed static settings are reported and
// ignored until restart.
func (g *Gateway) Reload(cfg *Config) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, err := g.compile(cfg)
	if err != nil {
		g.deps.Metrics.reloads.WithLabelValues("failed").Inc()
		g.deps.Log.Error("config reload failed; the previous config keeps serving", "file", cfg.file, "err", err)
		return err
	}
	if !reflect.DeepEqual(staticOf(cfg), g.static) {
		g.deps.Log.Warn("static settings (data_dir, listen, http, admin, server, log, rate_limit, oauth) changed; they apply after a restart", "file", cfg.file)
	}
	g.snap.Store(s)
	g.deps.Transports.Retain(s.transports)
	g.deps.Metrics.reloads.WithLabelValues("ok").Inc()
	g.deps.Log.Info("config reloaded", "file", cfg.file, "routes", len(cfg.Routes))
	return nil
}

// ReloadFile loads path and reloads from it. A file that does not load is a
// failed reload: the current snapshot keeps serving.
func (g *Gateway) ReloadFile(path string) error {
	cfg, err := LoadFile(path)
	if err != nil {
		g.deps.Metrics.reloads.WithLabelValues("failed").Inc()
		g.deps.Log.Error("config reload failed; the previous config keeps serving", "file", path, "err", err)
		return err
	}
	return g.Reload(cfg)
}

func (g *Gateway) compile(cfg *Config) (*snapshot, error) {
	prefixes, err := trustedPrefixes(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	s := &snapshot{
		cfg:        cfg,
		deps:       g.deps,
		resolver:   clientip.New(prefixes),
		maxURI:     cfg.Limits.MaxURIBytes,
		accessLog:  cfg.Log.AccessLog(),
		unmatched:  g.deps.Metrics.forRoute(""),
		transports: map[string]bool{},
		inbound:    proxy.NewInbound(cfg.RequestHeaders.Remove),
	}
	if cfg.ForwardAuth != nil {
		s.forwardMode = newForwardMode(cfg.ForwardAuth)
	}
	s.redirectHosts, s.httpsPort = redirectTargets(cfg)
	if len(cfg.Policies) > 0 {
		if s.policies, err = loadPolicies(cfg.Policies, cfg.ActionGroups); err != nil {
			return nil, err
		}
	}
	if s.verifier, err = g.jwtVerifier(cfg); err != nil {
		return nil, err
	}
	routes := make([]*route, len(cfg.Routes))
	for i := range cfg.Routes {
		rt, err := s.compileRoute(&cfg.Routes[i])
		if err != nil {
			return nil, fmt.Errorf("routes[%d] (%s): %w", i, cfg.Routes[i].Name, err)
		}
		routes[i] = rt
	}
	mux, merr := buildMux(cfg.Routes, func(i int) http.Handler { return routes[i] })
	if merr != nil {
		return nil, fmt.Errorf("%s: %s", merr.path, merr.msg)
	}
	if g.deps.OAuth != nil && cfg.OAuth != nil {
		rt := &route{name: oauthRoute, metrics: s.deps.Metrics.forRoute(oauthRoute), maxBody: 64 << 10}
		if rl := cfg.OAuth.RateLimit; rl != nil && !rl.Off {
			// Credential endpoints get a per-address limit of their own (RL-03).
			rt.preAuth = ratelimit.Stage(ratelimit.StageOptions{Route: oauthRoute, Limiter: s.deps.RateLimiter, DisplayName: displayName,
				Rules: []ratelimit.Rule{{Key: []string{ratelimit.PartIP}, Policy: ratelimit.Policy{Name: oauthRoute + "/per-address",
					Limit: int64(rl.Limit), Window: rl.Window.D(), Failure: ratelimit.FailureMode(cfg.RateLimit.OnError)}}}})
		}
		rt.chain = s.routeChain(rt, g.deps.OAuth.Handler())
		if err := registerInternal(mux, oauth.Paths, rt); err != nil {
			return nil, err
		}
	}
	s.mux = mux
	s.checkMux, _ = buildMux(cfg.Routes, func(i int) http.Handler { return routeCheck{routes[i]} })
	s.tlsHandler = s.globalChain(true)
	s.plain = s.globalChain(false)
	s.forward = s.forwardChain()
	return s, nil
}

// redirectTargets are the host names the config gives this gateway
// (route hosts, ACME domains, names of the generated certificate, the
// OAuth issuer's host) and the public listener's port suffix.
func redirectTargets(cfg *Config) (map[string]bool, string) {
	names := map[string]bool{}
	add := func(h string) {
		if c, ok := canonicalHost(h); ok && c != "" && !strings.HasPrefix(c, "*.") {
			names[c] = true
		}
	}
	for _, rt := range cfg.Routes {
		add(rt.Match.Host)
	}
	t := cfg.Listen.TLS
	switch {
	case t.ACME != nil:
		for _, d := range t.ACME.Domains {
			add(d)
		}
	case t.CertFile == "":
		for _, h := range append([]string{"localhost", "127.0.0.1", "::1"}, t.SelfSignedHosts...) {
			names[strings.ToLower(strings.TrimSuffix(h, "."))] = true
		}
	}
	if cfg.OAuth != nil {
		if u, err := url.Parse(cfg.OAuth.Issuer); err == nil {
			add(u.Hostname())
		}
	}
	if cfg.HTTP != nil {
		for _, h := range cfg.HTTP.RedirectHosts {
			add(h)
		}
	}
	port := ""
	if _, p, err := net.SplitHostPort(cfg.Listen.Address); err == nil && p != "443" && p != "0" {
		port = ":" + p
	}
	return names, port
}

func trustedPrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, p := range list {
		pr, err := parsePrefix(p)
		if err != nil {
			return nil, err
		}
		out = append(out, pr)
	}
	return out, nil
}

func (s *snapshot) compileRoute(rc *Route) (*route, error) {
	u := &rc.Upstream
	tr, key, err := s.deps.Transports.Get(proxy.TransportOptions{
		DialTimeout: u.DialTimeout.D(), TLSHandshakeTimeout: u.TLSHandshakeTimeout.D(),
		ResponseHeaderTimeout: u.ResponseHeaderTimeout.D(), IdleConnTimeout: u.IdleConnTimeout.D(),
		MaxIdleConnsPerHost: u.MaxIdleConnsPerHost, MaxConnsPerHost: u.MaxConnsPerHost,
		CAFile: u.CAFile, ServerName: u.ServerName, InsecureSkipVerify: u.InsecureSkipVerify,
	})
	if err != nil {
		return nil, err
	}
	s.transports[key] = true
	if u.InsecureSkipVerify {
		s.deps.Log.Warn("upstream TLS verification is OFF for this route (insecure_skip_verify); never in production", "route", rc.Name)
	}
	targets := make([]*url.URL, len(u.URLs))
	for i, raw := range u.URLs {
		if targets[i], err = url.Parse(raw); err != nil {
			return nil, err
		}
	}
	rt := &route{name: rc.Name, browser: rc.Browser, metrics: s.deps.Metrics.forRoute(rc.Name), maxBody: int64(s.cfg.Limits.MaxBodyBytes)}
	if rc.MaxBodyBytes != nil {
		rt.maxBody = int64(*rc.MaxBodyBytes)
	}
	if rc.RateLimit != nil {
		rt.preAuth, rt.postAuth, rt.concurrency = s.compileRateLimit(rc)
	}
	if a := rc.Authorize; a != nil {
		if rt.authorize, err = s.compileAuthorize(rc, a); err != nil {
			return nil, err
		}
	}
	if vc := rc.Validate; vc != nil {
		if rt.validate, rt.responses, err = s.compileValidate(rc, vc); err != nil {
			return nil, err
		}
	}
	if rc.Auth != nil {
		if rt.authn, err = s.compileAuthn(rc.Auth); err != nil {
			return nil, err
		}
	}
	upErrors := s.deps.Metrics.upstreamErrors
	for _, kind := range []string{proxy.KindConnect, proxy.KindTimeout, proxy.KindProtocol} {
		upErrors.WithLabelValues(rc.Name, kind) // export zeros, so rates work from the start
	}
	p, err := proxy.New(proxy.Options{
		Targets: targets, StripPrefix: u.StripPrefix, PreserveHost: u.PreserveHost,
		UnhealthyFor: u.UnhealthyFor.D(), Transport: tr,
		TrustedPeer: s.resolver.Trusted, Inbound: s.inbound, Log: s.deps.Log, Now: s.deps.Now,
		OnTarget: func(r *http.Request, target string) {
			if st := stateFrom(r); st != nil {
				st.upstream = target
			}
		},
		OnError: func(r *http.Request, target, kind string, err error) {
			upErrors.WithLabelValues(rc.Name, kind).Inc()
		},
	})
	if err != nil {
		return nil, err
	}
	rt.chain = s.routeChain(rt, p)
	rt.check = s.checkChain(rt)
	return rt, nil
}

// matchStage finds the route. On the HTTPS listener it dispatches through
// the mux (which sets r.Pattern and path values for later stages); on the
// plain listener it answers with a redirect or a refusal.
func (s *snapshot) matchStage(tls bool) http.Handler { return s.matchOn(s.mux, tls) }

func (s *snapshot) matchOn(mux *http.ServeMux, tls bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateFrom(r)
		if !tls || st == nil {
			h, _ := mux.Handler(r)
			rt, ok := h.(*route)
			if !ok {
				c := &capture{header: http.Header{}}
				h.ServeHTTP(c, r)
				s.notMatched(w, r, c.status, c.header)
				return
			}
			if st != nil {
				st.route = rt
			}
			if !tls {
				s.servePlain(w, r, rt)
			} else {
				mux.ServeHTTP(w, r)
			}
			return
		}
		st.mw = matchWriter{ResponseWriter: w, st: st}
		mux.ServeHTTP(&st.mw, r)
		if !st.mw.matched {
			s.notMatched(w, r, st.mw.status, st.mw.scratch)
		}
	})
}

// servePlain answers a request that arrived over plain HTTP (TLS-06).
// Browser pages are redirected to HTTPS, only for a host name the config
// names (PRX-10): a client-chosen Host never becomes a Location.
func (s *snapshot) servePlain(w http.ResponseWriter, r *http.Request, rt *route) {
	if rt.browser && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		name := hostName(r.Host)
		if !s.redirectHosts[name] {
			problem.Write(w, r, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "the Host is not a name of this gateway; use its https URL"))
			return
		}
		if strings.Contains(name, ":") {
			name = "[" + name + "]"
		}
		u := url.URL{Scheme: "https", Host: name + s.httpsPort, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		http.Redirect(w, r, u.String(), http.StatusPermanentRedirect)
		return
	}
	problem.Write(w, r, problem.New(http.StatusForbidden, problem.TypeHTTPSRequired, "this API is served over HTTPS only; the request was not forwarded"))
}

// capture records what ServeMux's own not-found, method-not-allowed and
// redirect handlers would answer, so the gateway can answer with a problem.
type capture struct {
	header http.Header
	status int
}

func (c *capture) Header() http.Header         { return c.header }
func (c *capture) Write(b []byte) (int, error) { return len(b), nil }
func (c *capture) WriteHeader(code int)        { c.status = code }

func (s *snapshot) notMatched(w http.ResponseWriter, r *http.Request, status int, h http.Header) {
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", h.Get("Allow"))
		problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, problem.TypeMethodNotAllowed, "the route does not allow "+r.Method))
		return
	}
	problem.Write(w, r, problem.New(http.StatusNotFound, problem.TypeNotFound, "no route matches this request"))
}
