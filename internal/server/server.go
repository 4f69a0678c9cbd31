// Package server runs a gateway process: it builds the certificate source,
// the public, plain-HTTP and admin listeners with their timeouts, hot-reloads
// the config file on change and on request, and drains in-flight requests
// on shutdown.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/admin"
	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authn/jwt"
	"github.com/gatehouse-dev/gatehouse/certs"
	"github.com/gatehouse-dev/gatehouse/edge"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/ratelimit"
	"github.com/gatehouse-dev/gatehouse/ratelimit/redislimit"
	"github.com/gatehouse-dev/gatehouse/revocation"
	"github.com/gatehouse-dev/gatehouse/secaudit"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/postgres"
	"github.com/gatehouse-dev/gatehouse/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/store/sqlstore"
)

// Options configure Run.
type Options struct {
	// Config is the loaded config; ConfigPath, when set, is watched and
	// reloaded on change and on every value received from Reload.
	Config     *gatehouse.Config
	ConfigPath string
	Reload     <-chan struct{}
	// Log receives operational logs; nil builds one from the config's log
	// settings on LogOutput (default stderr).
	Log       *slog.Logger
	LogOutput io.Writer
	// OnReady is called once all listeners accept connections.
	OnReady func(Ready)
	// OnReload, when set, is told the result of every config reload attempt.
	OnReload func(error)
	// OnShutdown, when set, is called once the public listener has stopped
	// accepting connections and in-flight requests are draining.
	OnShutdown func()
	// NoMigrate skips applying database migrations at start.
	NoMigrate bool
	Version   string
}

// Ready describes a running gateway.
type Ready struct {
	PublicAddr, HTTPAddr, AdminAddr string
	// CAFile is the generated development CA, when the gateway made its own certificate.
	CAFile  string
	Gateway *gatehouse.Gateway
	// CertReady receives the result of the first ACME certificate
	// management run (nil: every domain has a certificate); nil without ACME.
	CertReady <-chan error
}

// NewLogger builds the operational logger of a config: JSON (or text) on w,
// times in UTC. slog escapes control characters in values, so a CR/LF sent
// by a client cannot forge a log line (LOG-02).
func NewLogger(l gatehouse.Log, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(l.Level))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			a.Value = slog.TimeValue(a.Value.Time().UTC())
		}
		return a
	}}
	if l.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Run serves until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, o Options) error {
	cfg := o.Config
	if o.LogOutput == nil {
		o.LogOutput = os.Stderr
	}
	log := o.Log
	if log == nil {
		log = NewLogger(cfg.Log, o.LogOutput)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	// CFG-05: the data dir holds keys, certificates and the database.
	if fi, err := os.Stat(cfg.DataDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("data_dir %s is open to other users (%v) and cannot be made private: %w", cfg.DataDir, fi.Mode().Perm(), err)
		}
		log.Warn("data_dir was open to other users; made private (0700)", "dir", cfg.DataDir, "was", fi.Mode().Perm().String())
	}
	if err := checkWritable(cfg.DataDir); err != nil {
		return err
	}
	// Deferred in this order so that, on any return, background work is
	// cancelled first and then waited for.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	tlsConf, ready, acmeMgr, err := tlsSetup(ctx, cfg, log, &wg)
	if err != nil {
		return err
	}
	accessLog := edge.NewBufferedLog(o.LogOutput, 100*time.Millisecond)
	defer accessLog.Close()
	metrics := gatehouse.NewMetrics()
	limiter, closeLimiter := newRateLimiter(ctx, cfg, metrics, log, &wg)
	defer closeLimiter()
	st, err := OpenStore(ctx, cfg, !o.NoMigrate)
	if err != nil {
		return err
	}
	defer st.Close()
	var keyManager *apikey.Manager
	if cfg.APIKeys.Secret.IsSet() {
		keyManager, err = apikey.NewManager(apikey.Options{Store: st, ServerSecret: []byte(cfg.APIKeys.Secret.Value()),
			CacheTTL: cfg.APIKeys.CacheTTL.D(), Events: audit.SlogSink{Log: log}})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); keyManager.Run(ctx, 5*time.Second) }()
		if ch := st.KeyChannel(); ch != "" { // PostgreSQL: revocations reach every instance at once
			wg.Add(1)
			go func() {
				defer wg.Done()
				postgres.Listen(ctx, cfg.Store, ch, keyManager.ForgetAll, keyManager.Forget)
			}()
		}
	}
	// Token revocations (JWT-09): every instance follows the store, once a second.
	revoked := revocation.New(st, nil)
	if err := revoked.Sync(ctx); err != nil {
		log.Warn("token revocations cannot be read yet", "err", err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); revoked.Run(ctx, time.Second, log) }()
	var authServer *oauth.Server
	if o := cfg.OAuth; o != nil {
		if authServer, err = startOAuth(ctx, o, st, revoked, log, &wg); err != nil {
			return err
		}
	}
	gw, err := gatehouse.New(cfg, gatehouse.Deps{Log: log, AccessLog: accessLog, Metrics: metrics, RateLimiter: limiter, APIKeys: keyManager,
		TokenRevocations: revoked, OAuth: authServer, Events: audit.SlogSink{Log: log},
		Audit: func(c *gatehouse.Config) []finding.Finding {
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return secaudit.Config(actx, secaudit.ConfigInput{Config: c, Keys: st, Clients: st})
		}})
	if err != nil {
		return err
	}
	var isReady atomic.Bool

	type listener struct {
		name string
		srv  *http.Server
		ln   net.Listener
	}
	var lns []listener
	closeAll := func() {
		for _, l := range lns {
			l.ln.Close()
		}
	}
	listen := func(name, addr string, h http.Handler, tc *tls.Config) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("%s listener %s: %w", name, addr, err)
		}
		if tc != nil {
			ln = tls.NewListener(ln, tc)
		}
		srv := newHTTPServer(cfg.Server, h, tc, log)
		if name != "admin" {
			// Headroom: the gateway answers max_header_bytes and
			// max_uri_bytes itself, as problems with its headers (PRX-12).
			srv.MaxHeaderBytes = int(cfg.Server.MaxHeaderBytes) + cfg.Limits.MaxURIBytes + 16<<10
		}
		lns = append(lns, listener{name, srv, ln})
		return nil
	}
	if err := listen("public", cfg.Listen.Address, gw, tlsConf); err != nil {
		return err
	}
	ready.PublicAddr = lns[0].ln.Addr().String()
	if cfg.HTTP != nil {
		var h http.Handler = gw.PlainHandler()
		if acmeMgr != nil {
			h = acmeMgr.HTTPChallengeHandler(h)
		}
		if err := listen("http", cfg.HTTP.Address, h, nil); err != nil {
			return err
		}
		ready.HTTPAddr = lns[len(lns)-1].ln.Addr().String()
	}
	var adminTLS *tls.Config
	if !cfg.Admin.Plaintext {
		adminTLS, _ = certs.ServerConfig(certs.Intermediate)
		adminTLS.GetCertificate = tlsConf.GetCertificate
		if ca := cfg.Admin.ClientAuth; ca != nil {
			if err := certs.WithClientAuth(adminTLS, ca.CAFile, ca.Mode); err != nil {
				return fmt.Errorf("admin client_auth: %w", err)
			}
		}
	}
	ah := admin.Handler(admin.Options{Ready: isReady.Load, Registry: gw.Metrics().Registry, Version: o.Version, Keys: keyManager,
		Decide: gw.Decide, ForwardAuth: gw.ForwardAuth(), Revocations: revoked, Clients: clientStore(authServer, st),
		AuditFindings: gw.AuditFindings, AccessLog: accessLogOf(cfg, accessLog), Log: log})
	if err := listen("admin", cfg.Admin.Address, ah, adminTLS); err != nil {
		return err
	}
	ready.AdminAddr = lns[len(lns)-1].ln.Addr().String()
	ready.Gateway = gw
	if o.OnShutdown != nil {
		lns[0].srv.RegisterOnShutdown(o.OnShutdown)
	}

	errc := make(chan error, len(lns))
	for _, l := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s listener: %w", l.name, err)
			}
		}()
	}
	if acmeMgr != nil {
		certReady := make(chan error, 1)
		ready.CertReady = certReady
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer acmeMgr.Stop()
			err := acmeMgr.Start(ctx)
			if err != nil && ctx.Err() == nil {
				log.Error("ACME certificate management failed", "err", err)
			}
			certReady <- err
			<-ctx.Done()
		}()
	}
	if o.ConfigPath != "" {
		wg.Add(1)
		go func() { defer wg.Done(); watchConfig(ctx, o.ConfigPath, o.Reload, gw, log, o.OnReload) }()
	}
	isReady.Store(true)
	log.Info("gatehouse started", "public", ready.PublicAddr, "http", ready.HTTPAddr, "admin", ready.AdminAddr, "routes", len(cfg.Routes), "version", o.Version)
	if o.OnReady != nil {
		o.OnReady(ready)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	isReady.Store(false)
	log.Info("shutting down: draining in-flight requests", "timeout", cfg.Server.ShutdownTimeout.D().String())
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Server.ShutdownTimeout.D())
	defer scancel()
	var sw sync.WaitGroup
	for _, l := range lns {
		sw.Add(1)
		go func() {
			defer sw.Done()
			if err := l.srv.Shutdown(sctx); err != nil {
				log.Warn("shutdown did not drain in time; closing connections", "listener", l.name, "err", err)
				l.srv.Close()
			}
		}()
	}
	sw.Wait()
	cancel()
	log.Info("gatehouse stopped")
	return runErr
}

func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("data_dir %s is not writable: %w", dir, errors.Unwrap(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

func newHTTPServer(s gatehouse.Server, h http.Handler, tc *tls.Config, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tc,
		ReadHeaderTimeout: s.ReadHeaderTimeout.D(),
		ReadTimeout:       s.ReadTimeout.D(),
		WriteTimeout:      s.WriteTimeout.D(),
		IdleTimeout:       s.IdleTimeout.D(),
		MaxHeaderBytes:    int(s.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		// OPTIONS * reaches the gateway, which answers it with a problem.
		DisableGeneralOptionsHandler: true,
	}
}

// OpenStore opens the configured database (sqlite:// or postgres://),
// applying pending migrations when migrate is set.
func OpenStore(ctx context.Context, cfg *gatehouse.Config, migrate bool) (*sqlstore.Store, error) {
	if path, ok := strings.CutPrefix(cfg.Store, "sqlite://"); ok {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		return sqlite.Open(ctx, path, migrate)
	}
	return postgres.Open(ctx, cfg.Store, migrate)
}

// newRateLimiter builds the rate-limit backend of the static config: an
// in-memory one (swept every minute), or Redis with the in-memory one as
// the local fallback.
func newRateLimiter(ctx context.Context, cfg *gatehouse.Config, m *gatehouse.Metrics, log *slog.Logger, wg *sync.WaitGroup) (ratelimit.Limiter, func()) {
	rl := cfg.RateLimit
	mem := ratelimit.NewMemory(ratelimit.MemoryOptions{MaxKeys: rl.MaxKeys})
	wg.Add(1)
	go func() { defer wg.Done(); mem.Run(ctx, time.Minute) }()
	if rl.Backend != "redis" {
		return mem, func() {}
	}
	r := rl.Redis
	client := redislimit.NewClient(redislimit.ClientOptions{Addrs: r.Addrs, MasterName: r.MasterName, Username: r.Username, Password: r.Password.Value(), DB: r.DB, TLS: r.TLS, Timeout: r.Timeout.D()})
	lim := redislimit.New(redislimit.Options{
		Client: client, Prefix: r.Prefix, Timeout: r.Timeout.D(), Instances: rl.Instances, Local: mem,
		OnError: func(error) { m.RateLimitBackendError() },
		OnFallback: func(active bool) {
			m.RateLimitFallback(active)
			if active {
				log.Warn("Redis is unreachable: rate limits use their failure modes", "addrs", r.Addrs)
			} else {
				log.Info("Redis is back: rate limits are shared again")
			}
		},
	})
	return lim, func() { _ = client.Close() }
}

// tlsSetup builds the public listener's TLS config from the configured
// certificate source.
func tlsSetup(ctx context.Context, cfg *gatehouse.Config, log *slog.Logger, wg *sync.WaitGroup) (*tls.Config, Ready, *certs.ACME, error) {
	var ready Ready
	t := cfg.Listen.TLS
	tc, err := certs.ServerConfig(t.Profile)
	if err != nil {
		return nil, ready, nil, err
	}
	var acmeMgr *certs.ACME
	switch {
	case t.ACME != nil:
		a := t.ACME
		o := certs.ACMEOptions{
			Domains: a.Domains, Email: a.Email, CA: a.CA, StorageDir: filepath.Join(cfg.DataDir, "acme"),
			EABKeyID: a.EABKeyID, EABMACKey: a.EABMACKey.Value(), AltHTTPPort: a.AltHTTPPort, AltTLSALPNPort: a.AltTLSALPNPort, Log: log,
		}
		for _, ch := range a.Challenges {
			o.HTTP01 = o.HTTP01 || ch == "http-01"
			o.TLSALPN01 = o.TLSALPN01 || ch == "tls-alpn-01"
		}
		if a.CARoot != "" {
			if o.CARoots, err = certs.LoadCARoots(a.CARoot); err != nil {
				return nil, ready, nil, err
			}
		}
		if acmeMgr, err = certs.NewACME(o); err != nil {
			return nil, ready, nil, err
		}
		acmeMgr.Apply(tc)
	case t.CertFile != "":
		fs, err := certs.NewFileSource(t.CertFile, t.KeyFile, log)
		if err != nil {
			return nil, ready, nil, err
		}
		tc.GetCertificate = fs.GetCertificate
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fs.Watch(ctx, nil); err != nil {
				log.Warn("certificate files are not watched; reload needs a restart", "err", err)
			}
		}()
	default:
		ss, err := certs.EnsureSelfSigned(cfg.DataDir, t.SelfSignedHosts, time.Now())
		if err != nil {
			return nil, ready, nil, err
		}
		fs, err := certs.NewFileSource(ss.CertFile, ss.KeyFile, log)
		if err != nil {
			return nil, ready, nil, err
		}
		tc.GetCertificate = fs.GetCertificate
		ready.CAFile = ss.CAFile
		wg.Add(1)
		go func() { // renew the generated certificate before it expires
			defer wg.Done()
			tick := time.NewTicker(12 * time.Hour)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if _, err := certs.EnsureSelfSigned(cfg.DataDir, t.SelfSignedHosts, time.Now()); err != nil {
						log.Error("renewing the self-signed certificate failed", "err", err)
					} else if err := fs.Reload(); err != nil {
						log.Error("reloading the self-signed certificate failed", "err", err)
					}
				}
			}
		}()
	}
	if ca := t.ClientAuth; ca != nil {
		if err := certs.WithClientAuth(tc, ca.CAFile, ca.Mode); err != nil {
			return nil, ready, nil, err
		}
	}
	return tc, ready, acmeMgr, nil
}

// watchConfig reloads the gateway when the config file or a file it names
// (policies, OpenAPI documents and the files beside them) changes, or when
// a reload is requested (SIGHUP). A bad file is logged and the old config
// keeps serving.
func watchConfig(ctx context.Context, path string, reload <-chan struct{}, gw *gatehouse.Gateway, log *slog.Logger, onReload func(error)) {
	abs, _ := filepath.Abs(path)
	var events <-chan fsnotify.Event
	var w *fsnotify.Watcher
	if nw, err := fsnotify.NewWatcher(); err != nil {
		log.Warn("config file is not watched; reload with SIGHUP", "err", err)
	} else {
		w = nw
		defer w.Close()
		if err := w.Add(filepath.Dir(abs)); err != nil {
			log.Warn("config file is not watched; reload with SIGHUP", "err", err)
		} else {
			events = w.Events
		}
	}
	var files, specDirs map[string]bool
	watched := map[string]bool{filepath.Dir(abs): true}
	watchDependents := func() {
		f, d := gw.Config().DependentFiles()
		files, specDirs = map[string]bool{}, map[string]bool{}
		for _, p := range d {
			specDirs[p] = true
		}
		for _, p := range f {
			files[p] = true
			d = append(d, filepath.Dir(p))
		}
		for _, p := range d {
			if !watched[p] && w != nil {
				if err := w.Add(p); err != nil {
					log.Warn("a file the config names is not watched; reload with SIGHUP", "dir", p, "err", err)
					continue
				}
				watched[p] = true
			}
		}
	}
	watchDependents()
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if ev.Has(fsnotify.Chmod) {
				continue
			}
			evAbs, _ := filepath.Abs(ev.Name)
			if evAbs == abs || files[evAbs] || specDirs[filepath.Dir(evAbs)] && isSpecFile(evAbs) {
				debounce = time.After(250 * time.Millisecond)
			}
		case <-reload:
			debounce = time.After(0)
		case <-debounce:
			err := gw.ReloadFile(path)
			if err == nil {
				watchDependents()
			}
			if onReload != nil {
				onReload(err)
			}
		}
	}
}

// clientStore is the store behind /v1/clients: only with the OAuth server.
func clientStore(srv *oauth.Server, st *sqlstore.Store) store.OAuthClients {
	if srv == nil {
		return nil
	}
	return st
}

// startOAuth loads (or creates) the signing keys and starts the built-in
// authorization server. Keys are reloaded every 30 s, so a rotation on any
// instance reaches the others.
func startOAuth(ctx context.Context, o *gatehouse.OAuthServer, st *sqlstore.Store, revoked *revocation.List, log *slog.Logger, wg *sync.WaitGroup) (*oauth.Server, error) {
	ttl := o.AccessTokenTTL.D()
	keys, err := oauth.NewKeyRing(st, []byte(o.SigningKeySecret.Value()), ttl+jwt.MaxLeeway, nil)
	if err != nil {
		return nil, err
	}
	if err := keys.UseAlgorithm(o.Algorithm); err != nil {
		return nil, err
	}
	if err := keys.Load(ctx); err != nil {
		return nil, err
	}
	srv, err := oauth.New(oauth.Config{Issuer: o.Issuer, AccessTokenTTL: ttl, Store: st, Keys: keys, Revocations: revoked, Log: log,
		Users: st, Codes: st, Refresh: st, RefreshTokenTTL: o.RefreshTokenTTL.D(), CSRFKey: csrfKey(o.SigningKeySecret.Value())})
	if err != nil {
		return nil, err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := keys.Refresh(ctx); err != nil {
					log.Warn("signing keys not refreshed; the loaded ones keep signing", "err", err)
					continue
				}
				_, _ = st.PurgeCodes(ctx, time.Now().Add(-time.Minute))
				if rotated, err := keys.RotateIfOlder(ctx, o.RotateEvery.D()); err != nil {
					log.Warn("scheduled signing key rotation failed; the current key keeps signing", "err", err)
				} else if rotated {
					log.Info("signing key rotated on schedule", "every", o.RotateEvery.D().String())
				}
			}
		}
	}()
	return srv, nil
}

// csrfKey derives the sign-in form's token key from the signing-key
// secret, which every instance shares.
func csrfKey(secret string) []byte {
	sum := sha256.Sum256([]byte("gatehouse sign-in csrf\x00" + secret))
	return sum[:]
}

// isSpecFile reports whether a file may be part of an OpenAPI document.
func isSpecFile(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// VersionInfo returns version, commit, Go version and modules from build info.
func VersionInfo(version string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "gatehouse " + version + " (no build info)\n"
	}
	commit, modified := "unknown", ""
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " (modified)"
			}
		}
	}
	if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version // installed with go install module@version
	}
	out := fmt.Sprintf("gatehouse %s\ncommit %s%s\n%s\nmodules:\n", version, commit, modified, bi.GoVersion)
	for _, m := range bi.Deps {
		v := m.Version
		if m.Replace != nil {
			v += " => " + m.Replace.Path + " " + m.Replace.Version
		}
		out += fmt.Sprintf("  %s %s\n", m.Path, v)
	}
	return out
}

// accessLogOf is the admin listener's access log: the gateway's, unless
// log.access_log turns it off.
func accessLogOf(cfg *gatehouse.Config, w io.Writer) io.Writer {
	if !cfg.Log.AccessLog() {
		return nil
	}
	return w
}
