package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// key is one verification key of an issuer, bound to one algorithm.
type key struct {
	kid     string
	alg     string // the only algorithm this key verifies
	pub     any    // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or []byte (HMAC)
	retired atomic.Bool
}

// keySet is an immutable snapshot of an issuer's keys.
type keySet struct {
	byKid   map[string]*key
	keys    []*key
	fetched time.Time
}

// IssuerConfig describes one trusted token issuer.
type IssuerConfig struct {
	// Issuer is the exact iss value.
	Issuer string
	// JWKSURL is where the issuer's public keys are fetched.
	JWKSURL string
	// DiscoveryURL is an RFC 8414 / OpenID discovery document; its issuer
	// must equal Issuer, and its jwks_uri is used. Either this or JWKSURL.
	DiscoveryURL string
	// Static keys, for HMAC secrets (at least 32 bytes, alg HS*) and keys
	// given in code.
	Static []StaticKey
	// KeySource, instead of a JWKS URL, supplies the keys of an issuer the
	// gateway runs itself (the built-in authorization server); it is asked
	// like a JWKS is fetched: on first use, on an unknown kid (at most once
	// per RefreshInterval) and after MaxAge.
	KeySource func(ctx context.Context) ([]StaticKey, error)
	// Algorithms allowed for this issuer. Default RS256, ES256, EdDSA.
	Algorithms []string
	// Types are the accepted typ header values (compared case-insensitively,
	// with or without "application/"). Default at+jwt (RFC 9068).
	Types []string
	// Leeway for exp, nbf and iat. Default 30s, at most 120s.
	Leeway time.Duration
	// RefreshInterval is the least time between two fetches of the key set
	// prompted by an unknown kid. Default 1m.
	RefreshInterval time.Duration
	// MaxAge is how long a fetched key set is used before it is fetched
	// again in the background. Default 15m.
	MaxAge time.Duration
	// Client fetches JWKS and discovery documents. Default: 5s timeout.
	Client *http.Client
}

// StaticKey is a key given in configuration.
type StaticKey struct {
	KID string
	Alg string
	Key any // public key, or []byte for HMAC
}

// Issuer holds one issuer's settings and its cached keys. Safe for
// concurrent use; long-lived (it survives config reloads while its
// settings do not change).
type Issuer struct {
	cfg        IssuerConfig
	algs       map[string]bool
	set        atomic.Pointer[keySet]
	fetchMu    sync.Mutex
	lastTry    time.Time
	refreshing atomic.Bool
	now        func() time.Time
	jwksURL    atomic.Pointer[string]
	// OnRefresh, when set, is told of every fetch: its result and the
	// number of keys served afterwards (metrics).
	OnRefresh func(issuer string, err error, keys int)
}

// Default settings.
const (
	DefaultLeeway          = 30 * time.Second
	MaxLeeway              = 120 * time.Second
	DefaultRefreshInterval = time.Minute
	DefaultMaxAge          = 15 * time.Minute
	maxJWKSBytes           = 1 << 20
	minRSABits             = 2048
	minHMACBytes           = 32
)

// defaultAlgorithms are allowed when an issuer names none.
var defaultAlgorithms = []string{"RS256", "ES256", "EdDSA"}

// DefaultAlgorithms returns the algorithms allowed when an issuer names
// none (a copy: widening it changes nothing).
func DefaultAlgorithms() []string { return slices.Clone(defaultAlgorithms) }

var supportedAlgs = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true, "PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true, "EdDSA": true, "HS256": true, "HS384": true, "HS512": true,
}

// NewIssuer checks cfg and returns the issuer; its keys are fetched on
// first use (or by Refresh).
func NewIssuer(cfg IssuerConfig, now func() time.Time) (*Issuer, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("jwt: issuer is required")
	}
	if cfg.JWKSURL == "" && cfg.DiscoveryURL == "" && len(cfg.Static) == 0 && cfg.KeySource == nil {
		return nil, fmt.Errorf("jwt: issuer %s needs a jwks_url, a discovery_url or keys", cfg.Issuer)
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = slices.Clone(defaultAlgorithms)
	}
	if len(cfg.Types) == 0 {
		cfg.Types = []string{"at+jwt"}
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		return nil, fmt.Errorf("jwt: leeway %s: at most %s", cfg.Leeway, MaxLeeway)
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Client == nil {
		cfg.Client = newFetchClient()
	}
	if now == nil {
		now = time.Now
	}
	iss := &Issuer{cfg: cfg, algs: map[string]bool{}, now: now}
	for _, a := range cfg.Algorithms {
		if !supportedAlgs[a] {
			return nil, fmt.Errorf("jwt: algorithm %q is not supported (none never is)", a)
		}
		iss.algs[a] = true
	}
	if len(cfg.Static) > 0 {
		set := &keySet{byKid: map[string]*key{}}
		for _, sk := range cfg.Static {
			k, err := bindKey(sk.KID, sk.Alg, sk.Key)
			if err != nil {
				return nil, fmt.Errorf("jwt: issuer %s key %q: %w", cfg.Issuer, sk.KID, err)
			}
			set.add(k)
		}
		iss.set.Store(set)
	}
	if cfg.JWKSURL != "" {
		u := cfg.JWKSURL
		iss.jwksURL.Store(&u)
	}
	return iss, nil
}

// Name is the issuer's iss value.
func (iss *Issuer) Name() string { return iss.cfg.Issuer }

func (s *keySet) add(k *key) {
	s.keys = append(s.keys, k)
	if k.kid != "" {
		s.byKid[k.kid] = k
	}
}

// bindKey checks a key's strength and binds it to its algorithm.
func bindKey(kid, alg string, pub any) (*key, error) {
	k := &key{kid: kid, alg: alg, pub: pub}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p == nil || p.N == nil {
			return nil, errors.New("empty RSA key")
		}
		if p.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits: at least %d", p.N.BitLen(), minRSABits)
		}
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		case "":
			k.alg = "RS256"
		default:
			return nil, fmt.Errorf("an RSA key cannot verify %s", alg)
		}
	case *ecdsa.PublicKey:
		if p == nil || p.Curve == nil {
			return nil, errors.New("empty EC key")
		}
		want := map[elliptic.Curve]string{elliptic.P256(): "ES256", elliptic.P384(): "ES384", elliptic.P521(): "ES512"}[p.Curve]
		if want == "" {
			return nil, errors.New("unsupported EC curve")
		}
		if alg != "" && alg != want {
			return nil, fmt.Errorf("a %s key cannot verify %s", p.Curve.Params().Name, alg)
		}
		k.alg = want
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key")
		}
		if alg != "" && alg != "EdDSA" {
			return nil, fmt.Errorf("an Ed25519 key cannot verify %s", alg)
		}
		k.alg = "EdDSA"
	case []byte:
		if len(p) < minHMACBytes {
			return nil, fmt.Errorf("HMAC secret of %d bytes: at least %d", len(p), minHMACBytes)
		}
		switch alg {
		case "HS256", "HS384", "HS512":
		default:
			return nil, errors.New("an HMAC secret needs alg HS256, HS384 or HS512")
		}
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	return k, nil
}

// keys returns the current key set, fetching it when there is none or it
// is older than MaxAge (then the fetch happens in the background and the
// old set keeps serving).
func (iss *Issuer) keys(ctx context.Context) *keySet {
	set := iss.set.Load()
	if iss.remote() {
		switch {
		case set == nil:
			iss.refetch(ctx)
			set = iss.set.Load()
		case iss.now().Sub(set.fetched) > iss.cfg.MaxAge && iss.refreshing.CompareAndSwap(false, true):
			go func() {
				defer iss.refreshing.Store(false)
				iss.refetch(context.Background())
			}()
		}
	}
	return set
}

func (iss *Issuer) remote() bool {
	return iss.cfg.JWKSURL != "" || iss.cfg.DiscoveryURL != "" || iss.cfg.KeySource != nil
}

// ErrUnavailable: the issuer's keys have never been fetched (the issuer is
// unreachable); the request cannot be judged.
var ErrUnavailable = errors.New("jwt: the issuer's keys cannot be fetched")

// lookup finds the key for a token's kid and alg. An unknown kid prompts
// one refetch, at most once per RefreshInterval.
func (iss *Issuer) lookup(ctx context.Context, kid, alg string) (*key, error) {
	set := iss.keys(ctx)
	if k := set.find(kid, alg); k != nil {
		return k, nil
	}
	if kid != "" && iss.remote() && iss.refetch(ctx) {
		if k := iss.set.Load().find(kid, alg); k != nil {
			return k, nil
		}
	}
	if iss.set.Load() == nil {
		return nil, ErrUnavailable
	}
	return nil, ErrUnknownKey
}

func (s *keySet) find(kid, alg string) *key {
	if s == nil {
		return nil
	}
	if kid != "" {
		if k := s.byKid[kid]; k != nil && k.alg == alg {
			return k
		}
		return nil
	}
	// No kid: only when exactly one key verifies alg.
	var found *key
	for _, k := range s.keys {
		if k.alg == alg {
			if found != nil {
				return nil
			}
			found = k
		}
	}
	return found
}

// refetch fetches the key set unless a fetch was tried within
// RefreshInterval, so neither unknown kids nor a down issuer make the
// gateway hammer it. It reports whether a new set was stored. A failed
// fetch keeps the cached keys.
func (iss *Issuer) refetch(ctx context.Context) bool {
	iss.fetchMu.Lock()
	defer iss.fetchMu.Unlock()
	now := iss.now()
	if !iss.lastTry.IsZero() && now.Sub(iss.lastTry) < iss.cfg.RefreshInterval {
		return false
	}
	iss.lastTry = now
	set, err := iss.fetch(ctx)
	if err != nil {
		if iss.OnRefresh != nil {
			n := 0
			if old := iss.set.Load(); old != nil {
				n = len(old.keys)
			}
			iss.OnRefresh(iss.cfg.Issuer, err, n)
		}
		return false
	}
	set.fetched = now
	old := iss.set.Swap(set)
	if old != nil {
		for _, k := range old.keys {
			if nk := set.byKid[k.kid]; nk == nil || nk.alg != k.alg {
				k.retired.Store(true) // the token cache stops serving what it signed
			} else {
				set.replace(nk, k) // keep the same key object, so cached tokens stay valid
			}
		}
	}
	if iss.OnRefresh != nil {
		iss.OnRefresh(iss.cfg.Issuer, nil, len(set.keys))
	}
	return true
}

// replace swaps fresh for the equal key old already in use.
func (s *keySet) replace(fresh, old *key) {
	if !sameKey(fresh.pub, old.pub) {
		old.retired.Store(true) // same kid, new material: the old one is gone
		return
	}
	s.byKid[old.kid] = old
	for i, k := range s.keys {
		if k == fresh {
			s.keys[i] = old
		}
	}
}

func sameKey(a, b any) bool {
	type equaler interface{ Equal(crypto any) bool }
	if e, ok := a.(equaler); ok {
		return e.Equal(b)
	}
	return false
}

func (iss *Issuer) fetch(ctx context.Context) (*keySet, error) {
	if iss.cfg.KeySource != nil {
		keys, err := iss.cfg.KeySource(ctx)
		if err != nil {
			return nil, err
		}
		set := &keySet{byKid: map[string]*key{}}
		for _, sk := range keys {
			k, err := bindKey(sk.KID, sk.Alg, sk.Key)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", sk.KID, err)
			}
			set.add(k)
		}
		if len(set.keys) == 0 {
			return nil, errors.New("no signing key")
		}
		return set, nil
	}
	url := ""
	if p := iss.jwksURL.Load(); p != nil {
		url = *p
	}
	if url == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := iss.getJSON(ctx, iss.cfg.DiscoveryURL, &doc); err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		if doc.Issuer != iss.cfg.Issuer {
			return nil, fmt.Errorf("discovery: issuer %q differs from the configured %q", doc.Issuer, iss.cfg.Issuer)
		}
		if doc.JWKSURI == "" {
			return nil, errors.New("discovery: no jwks_uri")
		}
		if err := SecureURL(doc.JWKSURI); err != nil {
			return nil, fmt.Errorf("discovery: jwks_uri: %w", err) // JWT-10
		}
		url = doc.JWKSURI
		iss.jwksURL.Store(&url)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := iss.getJSON(ctx, url, &raw); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	set := &keySet{byKid: map[string]*key{}}
	for _, rk := range raw.Keys {
		if k, err := importJWK(rk); err == nil {
			set.add(k) // a key we cannot use is skipped, not fatal
		}
	}
	if len(set.keys) == 0 {
		return nil, errors.New("jwks: no usable signing key")
	}
	return set, nil
}

// importJWK turns one JWK of a fetched set into a verification key: public,
// for signatures, asymmetric, strong enough, bound to one algorithm.
func importJWK(raw []byte) (*key, error) {
	var jk jose.JSONWebKey
	if err := jk.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	if !jk.Valid() || !jk.IsPublic() {
		return nil, errors.New("not a valid public key")
	}
	if jk.Use != "" && jk.Use != "sig" {
		return nil, errors.New("not a signature key")
	}
	var ops struct {
		KeyOps []string `json:"key_ops"`
	}
	if json.Unmarshal(raw, &ops) == nil && ops.KeyOps != nil && !slices.Contains(ops.KeyOps, "verify") {
		return nil, errors.New("key_ops does not allow verify")
	}
	if _, isHMAC := jk.Key.([]byte); isHMAC {
		return nil, errors.New("symmetric keys never come from a JWKS")
	}
	return bindKey(jk.KeyID, jk.Algorithm, jk.Key)
}

// SecureURL reports whether a key or discovery URL may be fetched
// (JWT-10): https, or http to a loopback address (tests, a local IdP).
func SecureURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return errors.New("not an absolute URL without user info")
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http":
		if a, err := netip.ParseAddr(u.Hostname()); err == nil && a.IsLoopback() || u.Hostname() == "localhost" {
			return nil
		}
	}
	return fmt.Errorf("%s: must be https", u.Redacted())
}

// newFetchClient is the client of key and discovery fetches: its own
// transport with timeouts and no environment proxy (never
// http.DefaultTransport), TLS >= 1.2, and redirects followed only to the
// same scheme and host, at most three (JWT-10).
func newFetchClient() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, TLSHandshakeTimeout: 5 * time.Second, ResponseHeaderTimeout: 5 * time.Second,
		IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 2, TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: checkRedirect}
}

// checkRedirect refuses a redirect to another scheme or host, or to an
// insecure URL, and more than three.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("too many redirects")
	}
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
		return fmt.Errorf("redirect to another scheme or host refused: %s", req.URL.Redacted())
	}
	return SecureURL(req.URL.String())
}

func (iss *Issuer) getJSON(ctx context.Context, url string, v any) error {
	if err := SecureURL(url); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := iss.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", url, res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes+1))
	if err != nil {
		return err
	}
	if len(body) > maxJWKSBytes {
		return fmt.Errorf("%s: larger than 1 MiB", url)
	}
	return json.Unmarshal(body, v)
}
