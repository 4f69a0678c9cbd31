package gatehouse

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/apispec"
	"github.com/gatehouse-dev/gatehouse/edge"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
)

// Config is the whole gateway configuration, as decoded from one YAML file.
//
// Fields are grouped by when they apply: the static settings (data_dir,
// listen, http, admin, server, log) are read once at start and need a restart
// to change; the dynamic ones (trusted_proxies, limits, routes) hot-reload,
// all or nothing (CFG-03). Load returns a Config with defaults applied and
// every value validated; a Config is not modified after Load.
type Config struct {
	DataDir        string              `yaml:"data_dir" doc:"Directory for generated certificates, ACME state and (later) the embedded database. Static."`
	Listen         Listen              `yaml:"listen" doc:"The public HTTPS listener. Static."`
	HTTP           *HTTP               `yaml:"http" doc:"Optional plain-HTTP listener: API requests get a problem (TLS-06); routes marked browser get a 308 to HTTPS; serves ACME HTTP-01 challenges. Static."`
	Admin          Admin               `yaml:"admin" doc:"The admin listener (health, readiness, metrics). Never on the public listener. Static."`
	Server         Server              `yaml:"server" doc:"Timeouts and header limits of the listeners. Static."`
	Log            Log                 `yaml:"log" doc:"Logging. Static."`
	RateLimit      RateLimitBackend    `yaml:"rate_limit" doc:"Where rate-limit counters live: in memory (one instance) or in Redis (shared by all instances). Static."`
	Store          string              `yaml:"store" doc:"The database: sqlite:///path/gatehouse.db (default: gatehouse.db under data_dir) or postgres://user@host/db. Static."`
	APIKeys        APIKeys             `yaml:"api_keys" doc:"API key verification. Static."`
	OAuth          *OAuthServer        `yaml:"oauth" doc:"The built-in OAuth 2.0 authorization server (client credentials), on the public listener. Static."`
	JWT            JWT                 `yaml:"jwt" doc:"Token issuers trusted by routes with auth.jwt, and the verified-token cache. Reloadable."`
	TrustedProxies []string            `yaml:"trusted_proxies" doc:"Peers (IPs or CIDRs) whose X-Forwarded-For and X-Request-Id are believed and who may call forward auth (PRX-01, PRX-08). Default: none, or loopback (127.0.0.0/8, ::1) when forward_auth is set. Reloadable."`
	RequestHeaders RequestHeaders      `yaml:"request_headers" doc:"Client-sent request headers that never reach a stage or an upstream (PRX-08, PRX-09). Reloadable."`
	ForwardAuth    *ForwardAuth        `yaml:"forward_auth" doc:"The forward-auth endpoint (admin listener, /v1/forward-auth) for another proxy in front: which proxy, and so which headers carry the original request. Without it the endpoint answers 404. Reloadable."`
	Limits         Limits              `yaml:"limits" doc:"Global request limits. Reloadable."`
	Policies       []string            `yaml:"policies" doc:"Cedar policy files deciding routes with authorize; read at load and on every reload, all or nothing. Reloadable."`
	PolicySchema   string              `yaml:"policy_schema" doc:"Cedar schema file (human-readable syntax): every policy is type-checked against it at load and reload, and a policy that does not type-check fails the load (unknown types, attributes and actions; type errors). Reloadable."`
	ActionGroups   map[string][]string `yaml:"action_groups" doc:"Action groups for policies: group to member actions; action in Gatehouse::Action::\"<group>\" matches the members. Reloadable."`
	Routes         []Route             `yaml:"routes" doc:"Routes, matched on host, method and path. Reloadable."`

	file  string
	lines map[string]int
	docs  *documents // what loading read beside the YAML (load.go)
}

// RequestHeaders configures the inbound header boundary.
type RequestHeaders struct {
	Remove []string `yaml:"remove" doc:"More header names removed from every request, beside the built-in lists (names with anything but letters, digits and '-'; forwarding, original-request, method-override and other proxies' identity headers; X-Gatehouse-*). Compared case-folded, '_' as '-'."`
}

// ForwardAuth configures forward auth for a proxy in front of the gateway.
type ForwardAuth struct {
	Proxy                 string              `yaml:"proxy" enum:"nginx,traefik,envoy,headers" doc:"The proxy that calls: nginx (auth_request: X-Original-Method, X-Original-URI, X-Original-Host; refusals other than 401/403 are sent as 403 with X-Gatehouse-Status), traefik (ForwardAuth: X-Forwarded-Method, -Uri, -Host), envoy (ext_authz HTTP: the call's method, its path after /v1/forward-auth, its Host) or headers (names of your own). A call that also carries another proxy's headers is refused. Required."`
	Headers               *ForwardAuthHeaders `yaml:"headers" doc:"With proxy: headers, the header names that carry the original request."`
	OnlyStatuses401And403 bool                `yaml:"only_401_and_403" doc:"With proxy: headers, send refusals other than 401/403 as 403 with X-Gatehouse-Status (for proxies that pass on only those)."`
}

// ForwardAuthHeaders names the headers of the original request.
type ForwardAuthHeaders struct {
	Method string `yaml:"method" doc:"Header with the original method. Required."`
	URI    string `yaml:"uri" doc:"Header with the original request target (path and query). Required."`
	Host   string `yaml:"host" doc:"Header with the original host; empty: routes with match.host never match."`
}

// Listen configures the public HTTPS listener.
type Listen struct {
	Address string `yaml:"address" doc:"host:port of the public HTTPS listener. Default :8443."`
	TLS     TLS    `yaml:"tls" doc:"TLS settings of the public listener."`
}

// TLS configures certificates and the protocol profile of a listener.
type TLS struct {
	Profile         string      `yaml:"profile" enum:"intermediate,modern" doc:"Mozilla profile: intermediate (TLS 1.2 + 1.3, default) or modern (TLS 1.3 only)."`
	CertFile        string      `yaml:"cert_file" doc:"PEM certificate chain. Reloaded when the file changes. With key_file; excludes acme."`
	KeyFile         string      `yaml:"key_file" doc:"PEM private key of cert_file."`
	SelfSignedHosts []string    `yaml:"self_signed_hosts" doc:"Extra DNS names or IPs for the generated self-signed certificate (used when neither cert_file nor acme is set)."`
	ACME            *ACME       `yaml:"acme" doc:"Obtain and renew certificates with ACME."`
	ClientAuth      *ClientAuth `yaml:"client_auth" doc:"Mutual TLS: verify client certificates against a CA (TLS-08)."`
}

// ACME configures automatic certificates.
type ACME struct {
	Domains    []string `yaml:"domains" doc:"Domain names to obtain certificates for."`
	Email      string   `yaml:"email" doc:"Account contact e-mail."`
	CA         string   `yaml:"ca" doc:"ACME directory URL. Default: Let's Encrypt production."`
	CARoot     string   `yaml:"ca_root" doc:"PEM file of the root that signs the ACME server's own HTTPS certificate (for a private ACME CA)."`
	Challenges []string `yaml:"challenges" enum:"http-01,tls-alpn-01" doc:"Challenge types to use. Default: both. http-01 needs the http listener on port 80."`
	AgreeTOS   bool     `yaml:"agree_tos" doc:"Agree to the CA's terms of service. Required."`
	EABKeyID   string   `yaml:"eab_key_id" doc:"External account binding key id, for CAs that need one."`
	EABMACKey  Secret   `yaml:"eab_mac_key" doc:"External account binding MAC key, as ${file:...} or ${env:...}."`
	// Ports the challenge solvers answer on, when a test or a port mapping
	// needs others than the standard 80 and 443.
	AltHTTPPort    int `yaml:"alt_http_port" doc:"Port the ACME server uses for HTTP-01 (default 80)."`
	AltTLSALPNPort int `yaml:"alt_tls_alpn_port" doc:"Port the ACME server uses for TLS-ALPN-01 (default 443)."`
}

// ClientAuth configures mTLS on a listener.
type ClientAuth struct {
	CAFile string `yaml:"ca_file" doc:"PEM file of the CAs that sign client certificates."`
	Mode   string `yaml:"mode" enum:"require,verify_if_given" doc:"require (default): no certificate, no connection. verify_if_given: a certificate, when sent, must verify."`
}

// HTTP configures the optional plain-HTTP listener.
type HTTP struct {
	Address       string   `yaml:"address" doc:"host:port of the plain-HTTP listener, e.g. :80."`
	RedirectHosts []string `yaml:"redirect_hosts" doc:"More host names browser routes are redirected to HTTPS for, beside those the config names (route hosts, ACME domains, the generated certificate's names, the OAuth issuer's host). Any other Host gets a 400, never a redirect (PRX-10)."`
}

// Admin configures the admin listener.
type Admin struct {
	Address    string      `yaml:"address" doc:"host:port of the admin listener. Default 127.0.0.1:9443 (loopback)."`
	Plaintext  bool        `yaml:"plaintext" doc:"Serve the admin listener without TLS. Allowed only on a loopback address."`
	ClientAuth *ClientAuth `yaml:"client_auth" doc:"Mutual TLS on the admin listener: only clients with a certificate from this CA connect."`
}

// Server holds listener timeouts and header limits (PRX-04).
type Server struct {
	ReadHeaderTimeout Duration `yaml:"read_header_timeout" doc:"Time to read request headers. Default 5s."`
	ReadTimeout       Duration `yaml:"read_timeout" doc:"Time to read a whole request, body included. Default 30s."`
	WriteTimeout      Duration `yaml:"write_timeout" doc:"Time to write a response, from the end of the request headers. Default 60s."`
	IdleTimeout       Duration `yaml:"idle_timeout" doc:"Keep-alive idle time. Default 120s."`
	MaxHeaderBytes    ByteSize `yaml:"max_header_bytes" doc:"Largest request header block. Default 32KiB."`
	ShutdownTimeout   Duration `yaml:"shutdown_timeout" doc:"Time in-flight requests get to finish on SIGTERM. Default 15s."`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level" enum:"debug,info,warn,error" doc:"Minimum level. Default info."`
	Format string `yaml:"format" enum:"json,text" doc:"json (default) or text."`
	Access *bool  `yaml:"access" doc:"Write one access log line per request. Default true."`
}

// Limits are global request limits (PRX-04). Routes may lower or raise the body limit.
type Limits struct {
	MaxBodyBytes ByteSize `yaml:"max_body_bytes" doc:"Largest request body. Default 1MiB."`
	MaxURIBytes  int      `yaml:"max_uri_bytes" doc:"Longest request URI (path and query). Default 8192."`
	PathParams   string   `yaml:"path_params" enum:"refuse,allow" doc:"Paths with ';' segment parameters (/a;x/b): refuse (default, 400: servlet containers and others strip them, so the route matched is not the resource served) or allow. Dot segments with parameters (..;) are always refused (PRX-11)."`
}

// Route is one route: what it matches and where it sends the request.
type Route struct {
	Name         string             `yaml:"name" doc:"Unique route name, used in logs and metrics."`
	Match        Match              `yaml:"match" doc:"What the route matches."`
	Upstream     Upstream           `yaml:"upstream" doc:"Where matched requests go."`
	MaxBodyBytes *ByteSize          `yaml:"max_body_bytes" doc:"Body limit of this route, overriding limits.max_body_bytes."`
	Public       bool               `yaml:"public" doc:"The route is meant to be reached without credentials: says so to the audit (GH-AN-1), which flags routes without auth that are not public. Changes nothing at request time."`
	Browser      bool               `yaml:"browser" doc:"A browser page: plain-HTTP requests are redirected (308) to HTTPS instead of refused."`
	RateLimit    *RouteRateLimit    `yaml:"rate_limit" doc:"Rate limits of this route (GCRA), checked before and after authentication."`
	Auth         *RouteAuth         `yaml:"auth" doc:"How callers of this route authenticate."`
	Authorize    *Authorize         `yaml:"authorize" doc:"Decide every request of this route with the Cedar policies (default deny)."`
	OpenAPI      *OpenAPIValidation `yaml:"validate" doc:"Check requests, and optionally responses, against an OpenAPI 3.0/3.1 document (after authorization)."`
}

// OpenAPIValidation names a route's OpenAPI document and how it is enforced. Routes
// that name the same document with the same settings share one compiled copy.
type OpenAPIValidation struct {
	OpenAPI             string   `yaml:"openapi" doc:"OpenAPI 3.0 or 3.1 document (YAML or JSON). Relative $refs resolve against its directory. Paths in it are the upstream's (after strip_prefix)."`
	Mode                string   `yaml:"mode" enum:"enforce,report" doc:"enforce (default): refuse failing requests (400, 415, 404/405 when strict). report: pass them on and count them (log and gatehouse_validation_failures_total)."`
	Strict              bool     `yaml:"strict" doc:"Operations the document does not declare get 404 (path) or 405 (method) instead of passing unchecked."`
	RejectUnknownFields bool     `yaml:"reject_unknown_fields" doc:"Refuse body properties and query parameters the document does not declare, even where additionalProperties allows them (mass assignment)."`
	Responses           string   `yaml:"responses" enum:"off,report,enforce" doc:"Check upstream responses: off (default), report, or enforce (a failing response becomes a 502 problem; its body never reaches the client)."`
	MaxDepth            int      `yaml:"max_depth" doc:"Deepest JSON nesting accepted in a request body. Default 32."`
	MaxResponseBytes    ByteSize `yaml:"max_response_bytes" doc:"Largest response body checked. Enforced, a larger one is a 502; reported, it passes unchecked. Default 4MiB."`
	AllowRemoteRefs     []string `yaml:"allow_remote_refs" doc:"URL prefixes remote $refs may be fetched from, once at load. Any other remote $ref fails the load."`
}

// Authorize says how a route's requests are presented to the policies.
type Authorize struct {
	Action   string          `yaml:"action" doc:"Action id, e.g. orders.read (Gatehouse::Action::\"orders.read\"). Default: the method and the route name, \"GET orders\"."`
	Resource *PolicyResource `yaml:"resource" doc:"The resource entity. Default Gatehouse::Route::\"<route name>\"; path parameters are always its attributes."`
	Headers  []string        `yaml:"headers" doc:"Request headers the policies may read as context.headers[\"name\"] (lower case)."`
}

// PolicyResource names a typed resource.
type PolicyResource struct {
	Type  string            `yaml:"type" doc:"Entity type in the Gatehouse namespace, e.g. Order."`
	ID    string            `yaml:"id" doc:"A literal or a path parameter, e.g. \"{id}\"."`
	Attrs map[string]string `yaml:"attrs" doc:"More attributes: name to a literal or \"{param}\"."`
	Fetch *FetchAttrs       `yaml:"fetch" doc:"Load attributes from an upstream before deciding (cached; a failure denies)."`
}

// FetchAttrs loads resource attributes from an upstream.
type FetchAttrs struct {
	URL      string   `yaml:"url" doc:"http(s) URL; {param} is replaced by the escaped path parameter, e.g. http://orders:8080/orders/{id}."`
	Attrs    []string `yaml:"attrs" doc:"Top-level fields of the JSON answer to take as resource attributes."`
	Timeout  Duration `yaml:"timeout" doc:"Bound of each fetch. Default 1s."`
	CacheTTL Duration `yaml:"cache_ttl" doc:"How long an answer is reused. Default 5s."`
}

// APIKeys configures API key verification.
type APIKeys struct {
	Secret   Secret   `yaml:"secret" doc:"Server secret (at least 32 bytes) keys are hashed under; kept outside the database, as ${file:...} or ${env:...}."`
	CacheTTL Duration `yaml:"cache_ttl" doc:"How long a checked key is served from memory; a revocation reaches every instance within it. Default 1s."`
	Grace    Duration `yaml:"grace" doc:"How long a rotated key keeps working. Default 24h."`
}

// RouteAuth selects the authentication of a route. With both api_key and
// jwt, either credential works.
type RouteAuth struct {
	APIKey *APIKeyAuth `yaml:"api_key" doc:"Require an API key."`
	JWT    *JWTAuth    `yaml:"jwt" doc:"Require a bearer JWT access token from a trusted issuer (jwt.issuers)."`
	// ForwardCredentials keeps the consumed credential on the request.
	ForwardCredentials bool `yaml:"forward_credentials" doc:"Send the credential the gateway checked (Authorization: Bearer, X-API-Key) on to the upstream. Default false: it is removed (KEY-07)."`
}

// OAuthServer configures the built-in authorization server.
type OAuthServer struct {
	Issuer           string          `yaml:"issuer" doc:"Its issuer identifier: this gateway's public https URL, without a path, e.g. https://api.example.com. Tokens carry it as iss; routes accept them with auth.jwt."`
	SigningKeySecret Secret          `yaml:"signing_key_secret" doc:"At least 32 bytes, as ${file:...} or ${env:...}; the signing keys' private parts are encrypted under it in the database."`
	AccessTokenTTL   Duration        `yaml:"access_token_ttl" doc:"Lifetime of access tokens. Default 10m, at most 1h."`
	RefreshTokenTTL  Duration        `yaml:"refresh_token_ttl" doc:"Lifetime of each refresh token of the code flow (each use rotates it). Default 24h, at most 90 days."`
	Algorithm        string          `yaml:"algorithm" enum:"EdDSA,ES256,RS256" doc:"Signature algorithm of new signing keys. Default EdDSA; changing it rotates the key at the next start, the old key keeps verifying."`
	RateLimit        *OAuthRateLimit `yaml:"rate_limit" doc:"Requests per client address to /oauth2/* and the sign-in page (RL-03). Default 60 per minute; failed sign-ins and client authentications are throttled besides."`
	RotateEvery      Duration        `yaml:"rotate_every" doc:"Rotate the signing key when it is this old (checked every 30s); the old key keeps verifying for the token lifetime. Default 720h (30 days); 0 is not allowed."`
}

// OAuthRateLimit is the per-address limit of the OAuth endpoints.
type OAuthRateLimit struct {
	Limit  int      `yaml:"limit" doc:"Requests per window per client address. Default 60."`
	Window Duration `yaml:"window" doc:"The window. Default 1m."`
	Off    bool     `yaml:"off" doc:"No per-address limit (the failure throttles stay)."`
}

// JWTAuth configures JWT authentication on a route.
type JWTAuth struct {
	Issuers  []string `yaml:"issuers" doc:"Issuers (their iss values, as in jwt.issuers, or oauth.issuer) accepted on this route. Default: every configured issuer and the built-in server."`
	Audience string   `yaml:"audience" doc:"The audience the token's aud must contain (this API's identifier). Required."`
	Scopes   []string `yaml:"scopes" doc:"Scopes the token must all have."`
}

// JWT lists the trusted token issuers.
type JWT struct {
	Issuers       []JWTIssuer `yaml:"issuers" doc:"Trusted issuers: external identity providers by discovery or JWKS URL."`
	MaxTokenBytes ByteSize    `yaml:"max_token_bytes" doc:"Largest token accepted; larger ones are refused before parsing. Default 8KiB."`
	CacheSize     int         `yaml:"cache_size" doc:"Verified tokens kept (until their exp; revocation is checked on every request). Default 10000; -1 turns the cache off."`
}

// JWTIssuer is one trusted issuer.
type JWTIssuer struct {
	Issuer          string   `yaml:"issuer" doc:"The exact iss value of its tokens."`
	DiscoveryURL    string   `yaml:"discovery_url" doc:"Its RFC 8414 or OpenID discovery document (https); the document's issuer must equal issuer. Or jwks_url."`
	JWKSURL         string   `yaml:"jwks_url" doc:"Its JSON Web Key Set (https). Or discovery_url."`
	Algorithms      []string `yaml:"algorithms" enum:"RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,ES512,EdDSA" doc:"Signature algorithms accepted from it. Default [RS256, ES256, EdDSA]."`
	Types           []string `yaml:"types" doc:"Accepted typ headers. Default [at+jwt] (RFC 9068); add JWT only for issuers that cannot send at+jwt."`
	Leeway          Duration `yaml:"leeway" doc:"Clock skew allowed on exp, nbf and iat. Default 30s, at most 120s."`
	RefreshInterval Duration `yaml:"refresh_interval" doc:"Least time between key-set fetches prompted by an unknown kid. Default 1m."`
	MaxAge          Duration `yaml:"max_age" doc:"How long fetched keys are used before they are fetched again in the background. Default 15m."`
}

// APIKeyAuth configures API key authentication on a route.
type APIKeyAuth struct {
	Headers []string `yaml:"headers" enum:"authorization,x-api-key" doc:"Where the key is read: authorization (Bearer) and/or x-api-key. Default both."`
	Scopes  []string `yaml:"scopes" doc:"Scopes the key must all have."`
}

// RateLimitBackend configures where counters live.
type RateLimitBackend struct {
	Backend   string `yaml:"backend" enum:"memory,redis" doc:"memory (default): per instance. redis: one counter shared by every instance (RL-04)."`
	Redis     *Redis `yaml:"redis" doc:"The Redis to share counters through (backend: redis)."`
	Instances int    `yaml:"instances" doc:"How many instances share the limits; the local failure mode gives each limit/instances. Default 1."`
	MaxKeys   int    `yaml:"max_keys" doc:"Most keys tracked in memory (also by the local fallback). Default 1000000."`
	OnError   string `yaml:"on_error" enum:"local,open,closed" doc:"Default failure mode while Redis cannot decide (RL-05): local (per-instance limit, default), open (admit), closed (503)."`
}

// Redis says how to reach Redis.
type Redis struct {
	Addrs      []string `yaml:"addrs" doc:"host:port of the node; several for Cluster, or the Sentinels with master_name."`
	MasterName string   `yaml:"master_name" doc:"Sentinel master name."`
	Username   string   `yaml:"username" doc:"ACL user name."`
	Password   Secret   `yaml:"password" doc:"Password, as ${file:...} or ${env:...}."`
	DB         int      `yaml:"db" doc:"Database number (single node and Sentinel)."`
	TLS        bool     `yaml:"tls" doc:"Connect over TLS (verified against the system roots)."`
	Timeout    Duration `yaml:"timeout" doc:"Bound of each Redis call. Default 5ms."`
	Prefix     string   `yaml:"prefix" doc:"Key prefix. Default gatehouse:rl:."`
}

// RouteRateLimit holds a route's limits.
type RouteRateLimit struct {
	Policies    []RatePolicy       `yaml:"policies" doc:"Named GCRA policies; a request over any one of them gets 429."`
	Concurrency *ConcurrencyPolicy `yaml:"concurrency" doc:"Most requests in flight at once per key, on each instance."`
	Headers     string             `yaml:"headers" enum:"always,authenticated,never" doc:"Who sees the RateLimit-Policy and RateLimit headers: always (default), authenticated callers only, or never."`
}

// RatePolicy is one named limit.
type RatePolicy struct {
	Name    string   `yaml:"name" doc:"Policy name, shown in the RateLimit headers."`
	Limit   int      `yaml:"limit" doc:"Requests per window."`
	Window  Duration `yaml:"window" doc:"The window, e.g. 1s, 1h, 24h."`
	Burst   int      `yaml:"burst" doc:"Most requests admitted at once. Default: limit."`
	Key     []string `yaml:"key" doc:"What to count by, combined: ip, route, api_key, subject, client, tenant, header:NAME. Default [ip]."`
	Stage   string   `yaml:"stage" enum:"pre_auth,post_auth" doc:"pre_auth (before authentication; only ip, route and header keys) or post_auth. Default: pre_auth when the key allows it."`
	Shared  bool     `yaml:"shared" doc:"Share the counter with same-named policies of other routes. Default: each route counts apart."`
	OnError string   `yaml:"on_error" enum:"local,open,closed" doc:"Failure mode of this policy while Redis cannot decide. Default: rate_limit.on_error."`
}

// ConcurrencyPolicy limits requests in flight.
type ConcurrencyPolicy struct {
	Limit int      `yaml:"limit" doc:"Most requests in flight per key."`
	Key   []string `yaml:"key" doc:"What to count by (as for policies). Default [ip]."`
}

// Match selects requests for a route.
type Match struct {
	Host    string   `yaml:"host" doc:"Exact host name (no port). Empty matches any host."`
	Methods []string `yaml:"methods" doc:"Allowed methods. Empty allows all but TRACE and CONNECT (never proxied)."`
	Path    string   `yaml:"path" doc:"Path pattern in Go ServeMux syntax: /orders/{id}, /files/{path...}, /exact/{$}; a trailing slash matches the subtree."`
}

// Upstream is a set of equivalent backend URLs and how to reach them.
type Upstream struct {
	URL                   string   `yaml:"url" doc:"One backend URL (http or https). Use urls for several."`
	URLs                  []string `yaml:"urls" doc:"Backend URLs, used round robin; a failing one is skipped for unhealthy_for."`
	StripPrefix           string   `yaml:"strip_prefix" doc:"Path prefix removed before the request is sent on; the backend URL's own path is then prepended."`
	PreserveHost          bool     `yaml:"preserve_host" doc:"Send the client's Host header instead of the backend's."`
	DialTimeout           Duration `yaml:"dial_timeout" doc:"TCP connect timeout. Default 5s."`
	TLSHandshakeTimeout   Duration `yaml:"tls_handshake_timeout" doc:"TLS handshake timeout. Default 5s."`
	ResponseHeaderTimeout Duration `yaml:"response_header_timeout" doc:"Time to wait for response headers after the request is sent. Default 30s."`
	IdleConnTimeout       Duration `yaml:"idle_conn_timeout" doc:"How long idle pooled connections are kept. Default 90s."`
	MaxIdleConnsPerHost   int      `yaml:"max_idle_conns_per_host" doc:"Idle pooled connections per backend. Default 128."`
	MaxConnsPerHost       int      `yaml:"max_conns_per_host" doc:"Connections per backend, 0 for no limit. Default 0."`
	UnhealthyFor          Duration `yaml:"unhealthy_for" doc:"How long a backend that failed to connect is skipped. Default 10s."`
	CAFile                string   `yaml:"ca_file" doc:"PEM CA bundle that upstream certificates must chain to, instead of the system roots (TLS-07)."`
	ServerName            string   `yaml:"server_name" doc:"TLS server name to verify, when it differs from the URL host."`
	InsecureSkipVerify    bool     `yaml:"insecure_skip_verify" doc:"Do not verify upstream certificates. Explicit, logged opt-in; never use in production."`
}

// Defaults.
const (
	DefaultListen            = ":8443"
	DefaultAdminListen       = "127.0.0.1:9443"
	DefaultDataDir           = "./gatehouse-data"
	DefaultMaxBodyBytes      = 1 << 20
	DefaultMaxURIBytes       = 8192
	DefaultMaxHeaderBytes    = 32 << 10
	defaultReadHeaderTimeout = 5 * time.Second
	defaultReadTimeout       = 30 * time.Second
	defaultWriteTimeout      = 60 * time.Second
	defaultIdleTimeout       = 120 * time.Second
	defaultShutdownTimeout   = 15 * time.Second
	defaultUpstreamTimeout   = 30 * time.Second
	defaultDialTimeout       = 5 * time.Second
	defaultTLSHandshake      = 5 * time.Second
	defaultIdleConnTimeout   = 90 * time.Second
	defaultIdlePerHost       = 128
	defaultUnhealthyFor      = 10 * time.Second
)

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (c *Config) applyDefaults() {
	setDefault(&c.DataDir, DefaultDataDir)
	setDefault(&c.Listen.Address, DefaultListen)
	setDefault(&c.Listen.TLS.Profile, "intermediate")
	if ca := c.Listen.TLS.ClientAuth; ca != nil {
		setDefault(&ca.Mode, "require")
	}
	if a := c.Listen.TLS.ACME; a != nil {
		setDefault(&a.CA, "https://acme-v02.api.letsencrypt.org/directory")
		if len(a.Challenges) == 0 {
			a.Challenges = []string{"http-01", "tls-alpn-01"}
		}
	}
	setDefault(&c.Admin.Address, DefaultAdminListen)
	if ca := c.Admin.ClientAuth; ca != nil {
		setDefault(&ca.Mode, "require")
	}
	s := &c.Server
	setDefault(&s.ReadHeaderTimeout, Duration(defaultReadHeaderTimeout))
	setDefault(&s.ReadTimeout, Duration(defaultReadTimeout))
	setDefault(&s.WriteTimeout, Duration(defaultWriteTimeout))
	setDefault(&s.IdleTimeout, Duration(defaultIdleTimeout))
	setDefault(&s.MaxHeaderBytes, ByteSize(DefaultMaxHeaderBytes))
	setDefault(&s.ShutdownTimeout, Duration(defaultShutdownTimeout))
	setDefault(&c.Log.Level, "info")
	setDefault(&c.Log.Format, "json")
	if c.Log.Access == nil {
		t := true
		c.Log.Access = &t
	}
	setDefault(&c.Store, "sqlite://"+c.DataDir+"/gatehouse.db")
	setDefault(&c.APIKeys.CacheTTL, Duration(time.Second))
	setDefault(&c.APIKeys.Grace, Duration(24*time.Hour))
	rl := &c.RateLimit
	setDefault(&rl.Backend, "memory")
	setDefault(&rl.Instances, 1)
	setDefault(&rl.MaxKeys, 1_000_000)
	setDefault(&rl.OnError, "local")
	if rl.Redis != nil {
		setDefault(&rl.Redis.Timeout, Duration(5*time.Millisecond))
		setDefault(&rl.Redis.Prefix, "gatehouse:rl:")
	}
	if c.OAuth != nil {
		c.OAuth.Issuer = strings.TrimSuffix(c.OAuth.Issuer, "/")
		setDefault(&c.OAuth.AccessTokenTTL, Duration(10*time.Minute))
		setDefault(&c.OAuth.RotateEvery, Duration(30*24*time.Hour))
		setDefault(&c.OAuth.Algorithm, "EdDSA")
		setDefault(&c.OAuth.RefreshTokenTTL, Duration(24*time.Hour))
		if c.OAuth.RateLimit == nil {
			c.OAuth.RateLimit = &OAuthRateLimit{}
		}
		setDefault(&c.OAuth.RateLimit.Limit, 60)
		setDefault(&c.OAuth.RateLimit.Window, Duration(time.Minute))
	}
	if c.ForwardAuth != nil && len(c.TrustedProxies) == 0 {
		c.TrustedProxies = []string{"127.0.0.0/8", "::1/128"}
	}
	setDefault(&c.Limits.MaxBodyBytes, ByteSize(DefaultMaxBodyBytes))
	setDefault(&c.Limits.MaxURIBytes, DefaultMaxURIBytes)
	setDefault(&c.Limits.PathParams, "refuse")
	for i := range c.Routes {
		if h, ok := edge.CanonicalHost(c.Routes[i].Match.Host); ok {
			c.Routes[i].Match.Host = h // lower case, no trailing dot (PRX-10)
		}
		u := &c.Routes[i].Upstream
		if u.URL != "" && len(u.URLs) == 0 {
			u.URLs = []string{u.URL}
		}
		setDefault(&u.DialTimeout, Duration(defaultDialTimeout))
		setDefault(&u.TLSHandshakeTimeout, Duration(defaultTLSHandshake))
		setDefault(&u.ResponseHeaderTimeout, Duration(defaultUpstreamTimeout))
		setDefault(&u.IdleConnTimeout, Duration(defaultIdleConnTimeout))
		setDefault(&u.MaxIdleConnsPerHost, defaultIdlePerHost)
		setDefault(&u.UnhealthyFor, Duration(defaultUnhealthyFor))
		if vc := c.Routes[i].OpenAPI; vc != nil {
			setDefault(&vc.Mode, "enforce")
			setDefault(&vc.Responses, "off")
			setDefault(&vc.MaxDepth, apispec.DefaultMaxDepth)
			setDefault(&vc.MaxResponseBytes, ByteSize(apispec.DefaultMaxResponseBytes))
		}
		if rrl := c.Routes[i].RateLimit; rrl != nil {
			setDefault(&rrl.Headers, "always")
			for j := range rrl.Policies {
				p := &rrl.Policies[j]
				if len(p.Key) == 0 {
					p.Key = []string{"ip"}
				}
				if p.Stage == "" {
					p.Stage = "pre_auth"
					for _, part := range p.Key {
						if !ratelimit.PreAuthPart(part) {
							p.Stage = "post_auth"
						}
					}
				}
				setDefault(&p.OnError, rl.OnError)
			}
			if cc := rrl.Concurrency; cc != nil && len(cc.Key) == 0 {
				cc.Key = []string{"ip"}
			}
		}
	}
}

// AccessLog reports whether access logging is on.
func (l Log) AccessLog() bool { return l.Access == nil || *l.Access }

// File returns the path the config was loaded from ("" when built in code).
func (c *Config) File() string { return c.file }

// Line returns the line of a field path (routes[1].auth.jwt) in the file, or
// of its nearest parent present in the file when the field itself is absent
// (a default); 0 when neither is in the file.
func (c *Config) Line(path string) int {
	for p := path; p != ""; {
		if l, ok := c.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// DependentFiles are the files the config names whose contents are part of
// it (policies and OpenAPI documents): a change to one is a change to the
// config. OpenAPI documents may refer to files beside them, so their
// directories are returned too (dirs).
func (c *Config) DependentFiles() (files, dirs []string) {
	seen := map[string]bool{}
	add := func(list *[]string, p string) {
		if abs, err := filepath.Abs(p); err == nil && !seen[abs] {
			seen[abs] = true
			*list = append(*list, abs)
		}
	}
	for _, p := range c.Policies {
		add(&files, p)
	}
	if c.PolicySchema != "" {
		add(&files, c.PolicySchema)
	}
	for i := range c.Routes {
		if vc := c.Routes[i].OpenAPI; vc != nil && vc.OpenAPI != "" {
			add(&files, vc.OpenAPI)
			add(&dirs, filepath.Dir(vc.OpenAPI))
		}
	}
	return files, dirs
}
