package gatehouse

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/apispec"
	"github.com/gatehouse-dev/gatehouse/authn/credential"
	"github.com/gatehouse-dev/gatehouse/authn/jwt"
	"github.com/gatehouse-dev/gatehouse/authn/keyauth"
	"github.com/gatehouse-dev/gatehouse/clientip"
	"github.com/gatehouse-dev/gatehouse/edge"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/proxy"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
)

// Compiling turns a validated Config into a snapshot: immutable stages,
// one compile<Stage> per stage below, in pipeline order (pipeline.go).
// compile reads shared state (Deps, the kept issuers) but changes none of
// it: what a new snapshot needs kept is returned in it and kept by commit
// only once the whole compile succeeded (CFG-03).

// snapshot is one compiled, immutable config.
type snapshot struct {
	cfg  *Config
	deps Deps

	// the edge and normalise stages
	recover   edge.Recover
	requestID edge.RequestID
	accessLog edge.AccessLog
	inbound   edge.InboundHeaders
	limits    *edge.Limits

	resolver   *clientip.Resolver
	unmatched  *routeMetrics
	mux        *http.ServeMux
	checkMux   *http.ServeMux // the same routes, running only their checks
	tlsHandler http.Handler
	plain      http.Handler
	forward    http.Handler // the forward-auth endpoint
	transports map[string]bool
	policies   *policy.Engine
	verifier   *jwt.Verifier // nil without jwt.issuers
	// issuers are the verifier's issuers by settings; commit keeps them
	// for the next compile (their key caches survive), newIssuers are the
	// ones this compile created.
	issuers    map[string]*jwt.Issuer
	newIssuers []string
	// forwardMode reads the original request of forward-auth calls; nil
	// without forward_auth.
	forwardMode *forwardMode
	// redirectHosts are the names the plain listener redirects for, and
	// httpsPort the public listener's ":port" ("" for 443).
	redirectHosts map[string]bool
	httpsPort     string
}

func (g *Gateway) compile(cfg *Config) (*snapshot, error) {
	s, err := g.compileEdge(cfg)
	if err != nil {
		return nil, err
	}
	if len(cfg.Policies) > 0 {
		if s.policies, err = loadPolicies(cfg.Policies, cfg.PolicySchema, cfg.ActionGroups); err != nil {
			return nil, err
		}
	}
	if err := s.compileVerifier(g.issuers); err != nil {
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
	if err := s.compileOAuth(mux); err != nil {
		return nil, err
	}
	s.mux = mux
	s.checkMux, _ = buildMux(cfg.Routes, func(i int) http.Handler { return routeCheck{routes[i]} })
	s.tlsHandler = s.globalChain(true)
	s.plain = s.globalChain(false)
	s.forward = s.forwardChain()
	return s, nil
}

// commit keeps what a compiled snapshot carries across reloads; it runs
// under g.mu (or before the gateway is shared), right before the swap.
func (g *Gateway) commit(s *snapshot) {
	g.issuers = s.issuers
	for _, name := range s.newIssuers {
		g.deps.Metrics.jwksKeys.WithLabelValues(name).Set(0)
	}
}

// compileEdge builds the edge and normalise stages and what the plain
// listener and forward auth need.
func (g *Gateway) compileEdge(cfg *Config) (*snapshot, error) {
	prefixes, err := trustedPrefixes(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	m := g.deps.Metrics
	s := &snapshot{
		cfg:        cfg,
		deps:       g.deps,
		resolver:   clientip.New(prefixes),
		unmatched:  m.forRoute(""),
		transports: map[string]bool{},
	}
	s.recover = edge.Recover{Log: g.deps.Log}
	s.requestID = edge.RequestID{Resolver: s.resolver, Now: g.deps.Now}
	s.accessLog = edge.AccessLog{Out: g.deps.AccessLog, Enabled: cfg.Log.AccessLog(), Log: g.deps.Log, Now: g.deps.Now, InFlight: m.inflight,
		Done: func(q *edge.Request, status int, elapsed time.Duration) {
			rm := s.unmatched
			if rt, ok := q.Data.(*route); ok {
				rm = rt.metrics
			}
			rm.observe(status, elapsed.Seconds())
		}}
	s.inbound = edge.InboundHeaders{Inbound: proxy.NewInbound(cfg.RequestHeaders.Remove)}
	s.limits = &edge.Limits{MaxURIBytes: cfg.Limits.MaxURIBytes, MaxHeaderBytes: int(cfg.Server.MaxHeaderBytes), AllowPathParams: cfg.Limits.PathParams == "allow"}
	if cfg.ForwardAuth != nil {
		s.forwardMode = newForwardMode(cfg.ForwardAuth)
	}
	s.redirectHosts, s.httpsPort = redirectTargets(cfg)
	return s, nil
}

// redirectTargets are the host names the config gives this gateway
// (route hosts, ACME domains, names of the generated certificate, the
// OAuth issuer's host) and the public listener's port suffix.
func redirectTargets(cfg *Config) (map[string]bool, string) {
	names := map[string]bool{}
	add := func(h string) {
		if c, ok := edge.CanonicalHost(h); ok && c != "" && !strings.HasPrefix(c, "*.") {
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

// loadPolicies reads and compiles the policy files; any error fails the
// load or reload as a whole, so the previous policies keep deciding.
func loadPolicies(paths []string, schema string, groups map[string][]string) (*policy.Engine, error) {
	files := make([]policy.File, 0, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("policies: %w", err)
		}
		files = append(files, policy.File{Name: p, Data: data})
	}
	e, err := policy.WithActionGroups(files, groups)
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	if schema != "" {
		data, err := os.ReadFile(schema)
		if err != nil {
			return nil, fmt.Errorf("policy_schema: %w", err)
		}
		if err := e.TypeCheck(schema, data); err != nil {
			return nil, fmt.Errorf("policies do not type-check: %w", err)
		}
	}
	return e, nil
}

// compileVerifier builds the verifier of the config's issuers. An issuer
// whose settings did not change is taken from kept with its cached keys,
// so a reload does not refetch every JWKS.
func (s *snapshot) compileVerifier(kept map[string]*jwt.Issuer) error {
	cfg, g := s.cfg, s.deps
	builtIn := g.OAuth != nil && cfg.OAuth != nil
	if len(cfg.JWT.Issuers) == 0 && !builtIn {
		return nil
	}
	s.issuers = map[string]*jwt.Issuer{}
	list := make([]*jwt.Issuer, 0, len(cfg.JWT.Issuers)+1)
	if builtIn {
		list = append(list, g.OAuth.JWTIssuer())
	}
	for i, ic := range cfg.JWT.Issuers {
		k := fmt.Sprintf("%#v", ic)
		iss := kept[k]
		if iss == nil {
			var err error
			iss, err = jwt.NewIssuer(jwt.IssuerConfig{
				Issuer: ic.Issuer, JWKSURL: ic.JWKSURL, DiscoveryURL: ic.DiscoveryURL,
				Algorithms: ic.Algorithms, Types: ic.Types, Leeway: ic.Leeway.D(),
				RefreshInterval: ic.RefreshInterval.D(), MaxAge: ic.MaxAge.D(),
			}, g.Now)
			if err != nil {
				return fmt.Errorf("jwt.issuers[%d]: %w", i, err)
			}
			m, log := g.Metrics, g.Log
			iss.OnRefresh = func(issuer string, err error, n int) {
				result := "ok"
				if err != nil {
					result = "failed"
					log.Warn("JWKS fetch failed; the cached keys keep serving", "issuer", issuer, "err", err)
				}
				m.jwksRefresh.WithLabelValues(issuer, result).Inc()
				m.jwksKeys.WithLabelValues(issuer).Set(float64(n))
			}
			s.newIssuers = append(s.newIssuers, ic.Issuer)
		}
		s.issuers[k] = iss
		list = append(list, iss)
	}
	s.verifier = jwt.NewVerifier(list, jwt.VerifierOptions{
		MaxTokenBytes: int(cfg.JWT.MaxTokenBytes), CacheSize: cfg.JWT.CacheSize,
		Revocations: g.TokenRevocations, Now: g.Now,
	})
	return nil
}

// compileRoute builds one route's stages, in pipeline order.
func (s *snapshot) compileRoute(rc *Route) (*route, error) {
	rt := &route{name: rc.Name, browser: rc.Browser, metrics: s.deps.Metrics.forRoute(rc.Name)}
	var err error
	rt.bodyLimit = s.compileBodyLimit(rc)
	rt.preAuth, rt.postAuth = s.compileRateLimit(rc)
	if rt.authn, err = s.compileAuthn(rc.Auth); err != nil {
		return nil, err
	}
	if rt.authorize, err = s.compileAuthorize(rc); err != nil {
		return nil, err
	}
	if rt.openapi, rt.openapiResponses, err = s.compileOpenAPI(rc); err != nil {
		return nil, err
	}
	rt.concurrency = s.compileConcurrency(rc)
	up, err := s.compileProxy(rc)
	if err != nil {
		return nil, err
	}
	rt.chain = s.routeChain(rt, up)
	rt.check = s.checkChain(rt)
	return rt, nil
}

// compileBodyLimit: the route's body cap, else limits.max_body_bytes.
func (s *snapshot) compileBodyLimit(rc *Route) stage {
	limit := int64(s.cfg.Limits.MaxBodyBytes)
	if rc.MaxBodyBytes != nil {
		limit = int64(*rc.MaxBodyBytes)
	}
	return edge.BodyLimit{Max: limit}.Wrap
}

// compileRateLimit builds a route's two rate-limit stages: the policies
// keyed by what is known before authentication, and those keyed by the
// principal.
func (s *snapshot) compileRateLimit(rc *Route) (pre, post stage) {
	rl := rc.RateLimit
	if rl == nil {
		return nil, nil
	}
	headers := map[string]ratelimit.HeaderMode{"always": ratelimit.HeadersAlways, "authenticated": ratelimit.HeadersAuthenticated, "never": ratelimit.HeadersNever}[rl.Headers]
	var preRules, postRules []ratelimit.Rule
	counters := map[string][2]prometheus.Counter{}
	for _, p := range rl.Policies {
		// Buckets are per route unless shared: the policy name the backend
		// sees carries the route.
		bucket := rc.Name + "/" + p.Name
		if p.Shared {
			bucket = "shared/" + p.Name
		}
		rule := ratelimit.Rule{Policy: ratelimit.Policy{Name: bucket, Limit: int64(p.Limit), Window: p.Window.D(), Burst: int64(p.Burst), Failure: ratelimit.FailureMode(p.OnError)}, Key: p.Key}
		if p.Stage == "post_auth" {
			postRules = append(postRules, rule)
		} else {
			preRules = append(preRules, rule)
		}
		counters[bucket] = [2]prometheus.Counter{
			s.deps.Metrics.rlDecisions.WithLabelValues(rc.Name, p.Name, "limited"),
			s.deps.Metrics.rlDecisions.WithLabelValues(rc.Name, p.Name, "allowed"),
		}
	}
	onDecision := func(policy string, allowed bool) {
		c := counters[policy]
		if allowed {
			c[1].Inc()
		} else {
			c[0].Inc()
		}
	}
	log := s.deps.Log
	onError := func(err error) {
		log.Warn("rate limiting unavailable; request refused (failure mode closed)", "route", rc.Name, "err", err)
	}
	build := func(rules []ratelimit.Rule, postAuth bool) stage {
		if len(rules) == 0 {
			return nil
		}
		return ratelimit.NewStage(ratelimit.StageOptions{Route: rc.Name, Rules: rules, Limiter: s.deps.RateLimiter, Headers: headers,
			OnDecision: onDecision, OnError: onError, DisplayName: displayName, Overrides: postAuth}).Wrap
	}
	return build(preRules, false), build(postRules, true)
}

// displayName turns a bucket name (route/policy or shared/policy) back into
// the policy name clients see in the RateLimit headers.
func displayName(bucket string) string {
	if i := strings.IndexByte(bucket, '/'); i >= 0 {
		return bucket[i+1:]
	}
	return bucket
}

// compileAuthn builds a route's authentication stage: API key, JWT, or
// either when both are configured (an X-API-Key header or a bearer
// credential that is not shaped like a JWT goes to the API key check).
func (s *snapshot) compileAuthn(a *RouteAuth) (stage, error) {
	if a == nil {
		return nil, nil
	}
	var keyAuth *keyauth.Authenticator
	if a.APIKey != nil {
		if s.deps.APIKeys == nil {
			return nil, errors.New("auth.api_key needs api_keys.secret (no key manager)")
		}
		keyAuth = &keyauth.Authenticator{Manager: s.deps.APIKeys, Headers: a.APIKey.Headers, Scopes: a.APIKey.Scopes}
	}
	var jwtAuth *jwt.Authenticator
	if a.JWT != nil {
		if s.verifier == nil {
			return nil, errors.New("auth.jwt needs jwt.issuers or the built-in oauth server")
		}
		issuers := make([]string, len(a.JWT.Issuers))
		for i, iss := range a.JWT.Issuers {
			if s.cfg.OAuth != nil && strings.TrimSuffix(iss, "/") == s.cfg.OAuth.Issuer {
				iss = s.cfg.OAuth.Issuer // the built-in server's iss has no trailing slash
			}
			issuers[i] = iss
		}
		jwtAuth = &jwt.Authenticator{Verifier: s.verifier, Require: jwt.Require{Audience: a.JWT.Audience, Scopes: a.JWT.Scopes, Issuers: issuers}}
	}
	var st stage
	switch {
	case jwtAuth == nil && keyAuth == nil:
		return nil, nil
	case jwtAuth == nil:
		st = keyAuth.Wrap
	case keyAuth == nil:
		st = jwtAuth.Wrap
	default:
		st = func(next http.Handler) http.Handler {
			k, t := keyAuth.Wrap(next), jwtAuth.Wrap(next)
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Api-Key") == "" && jwt.LooksLikeJWT(jwt.Bearer(r)) {
					t.ServeHTTP(w, r)
					return
				}
				k.ServeHTTP(w, r)
			})
		}
	}
	if a.ForwardCredentials {
		return st, nil
	}
	// The checked credential goes no further than the gateway (KEY-07).
	return func(next http.Handler) http.Handler {
		return st(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			credential.Remove(r.Header)
			next.ServeHTTP(w, r)
		}))
	}, nil
}

// compileAuthorize builds a route's authorization stage.
func (s *snapshot) compileAuthorize(rc *Route) (stage, error) {
	a := rc.Authorize
	if a == nil {
		return nil, nil
	}
	rt := &policy.Route{Name: rc.Name, Action: a.Action, Headers: a.Headers}
	for _, m := range wildcardRE.FindAllString(rc.Match.Path, -1) {
		rt.Params = append(rt.Params, strings.TrimSuffix(strings.Trim(m, "{}"), "..."))
	}
	if res := a.Resource; res != nil {
		rt.ResourceType, rt.ResourceID, rt.Attrs = res.Type, res.ID, res.Attrs
		if f := res.Fetch; f != nil {
			timeout := f.Timeout.D()
			if timeout <= 0 {
				timeout = time.Second
			}
			// A shared transport, retained across reloads like the
			// upstreams' (CFG-04).
			tr, key, err := s.deps.Transports.Get(proxy.TransportOptions{DialTimeout: timeout, TLSHandshakeTimeout: timeout,
				ResponseHeaderTimeout: timeout, IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 16})
			if err != nil {
				return nil, err
			}
			s.transports[key] = true
			rt.Fetch = policy.NewFetcher(f.URL, f.Attrs, timeout, f.CacheTTL.D(), s.deps.Now, tr)
		}
	}
	ps := &policy.Stage{Engine: s.policies, Route: rt, Now: s.deps.Now, Events: s.deps.Events, Log: s.deps.Log}
	return ps.Wrap, nil
}

// compileOpenAPI builds a route's OpenAPI stages: the request check and,
// when responses are checked, the response check.
func (s *snapshot) compileOpenAPI(rc *Route) (req, resp stage, err error) {
	vc := rc.OpenAPI
	if vc == nil {
		return nil, nil, nil
	}
	spec, err := s.cfg.documents().spec(vc)
	if err != nil {
		return nil, nil, err
	}
	mode, ok := apispec.ParseMode(vc.Mode)
	if !ok || mode == apispec.Off {
		mode = apispec.Enforce
	}
	respMode, _ := apispec.ParseMode(vc.Responses)
	counter := s.deps.Metrics.validation
	for _, m := range []string{"enforce", "report"} {
		counter.WithLabelValues(rc.Name, "body", m) // export zeros, so rates work from the start
	}
	log := s.deps.Log
	opts := apispec.StageOptions{
		Mode:             mode,
		StripPrefix:      rc.Upstream.StripPrefix,
		MaxResponseBytes: int64(vc.MaxResponseBytes),
		OnViolation: func(r *http.Request, f *apispec.Failure, response, enforced bool) {
			m := "report"
			if enforced {
				m = "enforce"
			}
			var seen []string
			for _, v := range f.Violations {
				if !slices.Contains(seen, v.Location) {
					seen = append(seen, v.Location)
					counter.WithLabelValues(rc.Name, v.Location, m).Inc()
				}
			}
			id := problem.RequestID(r.Context())
			switch {
			case response && enforced:
				log.Warn("upstream response fails the OpenAPI document; replaced by a 502", "route", rc.Name, "request_id", id, "violations", apispec.Describe(f.Violations))
			case response:
				log.Warn("upstream response fails the OpenAPI document (report mode: passed on)", "route", rc.Name, "request_id", id, "violations", apispec.Describe(f.Violations))
			case !enforced:
				log.Warn("request fails the OpenAPI document (report mode: passed on)", "route", rc.Name, "request_id", id, "status", f.Status, "violations", apispec.Describe(f.Violations))
			}
		},
	}
	req = apispec.NewStage(spec, opts).Wrap
	if respMode != apispec.Off {
		ro := opts
		ro.Mode = respMode
		resp = apispec.NewResponseStage(spec, ro).Wrap
	}
	return req, resp, nil
}

// compileConcurrency builds a route's limit on requests in flight.
func (s *snapshot) compileConcurrency(rc *Route) stage {
	if rc.RateLimit == nil || rc.RateLimit.Concurrency == nil {
		return nil
	}
	cc := rc.RateLimit.Concurrency
	return (&ratelimit.Concurrency{Route: rc.Name, Name: "concurrency", Limit: cc.Limit, Key: cc.Key}).Wrap
}

// compileProxy builds a route's upstream handler on a shared transport.
func (s *snapshot) compileProxy(rc *Route) (http.Handler, error) {
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
	upErrors := s.deps.Metrics.upstreamErrors
	for _, kind := range []string{proxy.KindConnect, proxy.KindTimeout, proxy.KindProtocol} {
		upErrors.WithLabelValues(rc.Name, kind) // export zeros, so rates work from the start
	}
	return proxy.New(proxy.Options{
		Targets: targets, StripPrefix: u.StripPrefix, PreserveHost: u.PreserveHost,
		UnhealthyFor: u.UnhealthyFor.D(), Transport: tr,
		TrustedPeer: s.resolver.Trusted, Inbound: s.inbound.Inbound, Log: s.deps.Log, Now: s.deps.Now,
		OnError: func(r *http.Request, target, kind string, err error) {
			upErrors.WithLabelValues(rc.Name, kind).Inc()
		},
	})
}

// compileOAuth puts the built-in authorization server on mux, behind its
// own body limit and per-address rate limit (RL-03).
func (s *snapshot) compileOAuth(mux *http.ServeMux) error {
	if s.deps.OAuth == nil || s.cfg.OAuth == nil {
		return nil
	}
	rt := &route{name: oauthRoute, metrics: s.deps.Metrics.forRoute(oauthRoute), bodyLimit: edge.BodyLimit{Max: 64 << 10}.Wrap}
	if rl := s.cfg.OAuth.RateLimit; rl != nil && !rl.Off {
		rt.preAuth = ratelimit.NewStage(ratelimit.StageOptions{Route: oauthRoute, Limiter: s.deps.RateLimiter, DisplayName: displayName,
			Rules: []ratelimit.Rule{{Key: []string{ratelimit.PartIP}, Policy: ratelimit.Policy{Name: oauthRoute + "/per-address",
				Limit: int64(rl.Limit), Window: rl.Window.D(), Failure: ratelimit.FailureMode(s.cfg.RateLimit.OnError)}}}}).Wrap
	}
	rt.chain = s.routeChain(rt, s.deps.OAuth.Handler())
	return registerInternal(mux, oauth.Paths, rt)
}
