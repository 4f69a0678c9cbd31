package gatehouse

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	keys "github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authn/jwt"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/proxy"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
)

// Deps is the long-lived state that survives reloads: loggers, metrics and
// upstream connection pools. Zero fields get defaults in New.
type Deps struct {
	Log *slog.Logger // operational log
	// AccessLog receives one JSON line per request; nil means os.Stderr.
	// Wrap it in an edge.BufferedLog to batch writes.
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
	// Audit, when set, lints every config that loads (New and each
	// successful reload), e.g. with secaudit.Config. Its findings are
	// logged (high and above as warnings), counted in
	// gatehouse_audit_findings{severity} and returned by AuditFindings.
	Audit func(*Config) []finding.Finding
	Now   func() time.Time
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
	audit   atomic.Pointer[[]finding.Finding]
}

// staticSettings are read once; changing them needs a restart. Each is
// kept as its canonical JSON encoding, so a change is found (and named)
// by comparing strings.
type staticSettings map[string]string

func staticOf(c *Config) staticSettings {
	out := staticSettings{}
	for name, v := range map[string]any{
		"data_dir": c.DataDir, "listen": c.Listen, "http": c.HTTP, "admin": c.Admin,
		"server": c.Server, "log": c.Log, "rate_limit": c.RateLimit, "oauth": c.OAuth,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(err.Error()) // never equal to an encoding
		}
		// Secrets encode as their reference; a new value behind the same
		// reference is a change too, seen by its digest.
		h := sha256.New()
		secretValues(reflect.ValueOf(v), func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) })
		out[name] = string(b) + hex.EncodeToString(h.Sum(nil))
	}
	return out
}

var secretType = reflect.TypeFor[Secret]()

// secretValues calls f with the value of every Secret in v.
func secretValues(v reflect.Value, f func(string)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			secretValues(v.Elem(), f)
		}
	case reflect.Struct:
		if v.Type() == secretType {
			f(v.FieldByName("value").String())
			return
		}
		for i := range v.NumField() {
			secretValues(v.Field(i), f)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			secretValues(v.Index(i), f)
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		for _, k := range keys {
			secretValues(v.MapIndex(k), f)
		}
	}
}

// changed names the settings that differ between s and next, sorted.
func (s staticSettings) changed(next staticSettings) []string {
	var out []string
	for name, v := range next {
		if s[name] != v {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
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
	g.commit(s)
	g.snap.Store(s)
	g.selfAudit(cfg)
	return g, nil
}

// selfAudit lints the config now serving with Deps.Audit.
func (g *Gateway) selfAudit(cfg *Config) {
	if g.deps.Audit == nil {
		return
	}
	fs := g.deps.Audit(cfg)
	g.audit.Store(&fs)
	n := finding.Counts(fs)
	for _, sev := range finding.Severities() {
		g.deps.Metrics.auditFindings.WithLabelValues(sev.String()).Set(float64(n[sev]))
	}
	for _, f := range fs {
		if f.Severity >= finding.High {
			g.deps.Log.Warn("security audit finding", "rule", f.ID, "severity", f.Severity.String(), "title", f.Title, "at", f.Location.String(), "finding", f.Message)
		}
	}
	g.deps.Log.Info("security audit of the config", "file", cfg.file, "findings", finding.Summary(fs))
}

// AuditFindings returns the findings of the audit of the config serving
// (nil without Deps.Audit).
func (g *Gateway) AuditFindings() []finding.Finding {
	if p := g.audit.Load(); p != nil {
		return *p
	}
	return nil
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
	if changed := g.static.changed(staticOf(cfg)); len(changed) > 0 {
		g.deps.Log.Warn("static settings changed; they apply after a restart", "file", cfg.file, "settings", changed)
	}
	g.commit(s)
	g.snap.Store(s)
	g.deps.Transports.Retain(s.transports)
	g.deps.Metrics.reloads.WithLabelValues("ok").Inc()
	g.deps.Log.Info("config reloaded", "file", cfg.file, "routes", len(cfg.Routes))
	g.selfAudit(cfg)
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
