package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// idp is a test identity provider: a JWKS endpoint and keys to sign with
// (go-jose signs, so the tokens come from an independent implementation).
type idp struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	keys    []jose.JSONWebKey // public, served
	fetches atomic.Int64
	fail    atomic.Bool
	issuer  string
	ed      ed25519.PrivateKey
	ec      *ecdsa.PrivateKey
	rsa     *rsa.PrivateKey
}

func newIDP(t *testing.T) *idp {
	p := &idp{t: t}
	_, p.ed, _ = ed25519.GenerateKey(rand.Reader)
	p.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		if p.fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/.well-known/openid-configuration" {
			json.NewEncoder(w).Encode(map[string]string{"issuer": p.issuer, "jwks_uri": p.srv.URL + "/jwks"})
			return
		}
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: p.keys})
	}))
	t.Cleanup(p.srv.Close)
	p.issuer = p.srv.URL + "/"
	p.publish("ed-1", p.ed.Public(), "EdDSA")
	p.publish("ec-1", p.ec.Public(), "ES256")
	p.publish("rsa-1", p.rsa.Public(), "RS256")
	return p
}

func (p *idp) publish(kid string, pub any, alg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append(p.keys, jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"})
}

func (p *idp) unpublish(kid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.keys[:0]
	for _, k := range p.keys {
		if k.KeyID != kid {
			out = append(out, k)
		}
	}
	p.keys = out
}

type claims map[string]any

func (p *idp) claims() claims {
	now := time.Now()
	return claims{"iss": p.issuer, "sub": "alice", "aud": "orders-api", "exp": now.Add(5 * time.Minute).Unix(),
		"iat": now.Unix(), "jti": "jti-" + now.Format("150405.000000000"), "scope": "orders:read orders:write", "client_id": "web", "tenant": "acme", "roles": []string{"reader"}}
}

// sign signs c with the named key and header options.
func (p *idp) sign(alg jose.SignatureAlgorithm, kid string, c claims, hdr map[jose.HeaderKey]any) string {
	p.t.Helper()
	var k any
	switch alg {
	case jose.EdDSA:
		k = p.ed
	case jose.ES256:
		k = p.ec
	case jose.RS256, jose.PS256:
		k = p.rsa
	}
	opts := (&jose.SignerOptions{}).WithType("at+jwt")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	for h, v := range hdr {
		opts = opts.WithHeader(h, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k}, opts)
	if err != nil {
		p.t.Fatal(err)
	}
	tok, err := josejwt.Signed(s).Claims(map[string]any(c)).Serialize()
	if err != nil {
		p.t.Fatal(err)
	}
	return tok
}

func (p *idp) verifier(t *testing.T, mod func(*IssuerConfig)) (*Verifier, *Issuer) {
	cfg := IssuerConfig{Issuer: p.issuer, JWKSURL: p.srv.URL + "/jwks"}
	if mod != nil {
		mod(&cfg)
	}
	iss, err := NewIssuer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewVerifier([]*Issuer{iss}, VerifierOptions{}), iss
}

var route = &Require{Audience: "orders-api", Scopes: []string{"orders:read"}}

func TestValidTokens(t *testing.T) {
	p := newIDP(t)
	v, _ := p.verifier(t, nil)
	for _, tc := range []struct {
		alg jose.SignatureAlgorithm
		kid string
	}{{jose.EdDSA, "ed-1"}, {jose.ES256, "ec-1"}, {jose.RS256, "rsa-1"}} {
		c, err := v.Verify(context.Background(), p.sign(tc.alg, tc.kid, p.claims(), nil), route)
		if err != nil {
			t.Fatalf("%s: %v", tc.alg, err)
		}
		pr := c.Principal()
		if pr.Subject != "alice" || pr.Tenant != "acme" || pr.Issuer != p.issuer || len(pr.Scopes) != 2 || pr.Kind != "user" || pr.Roles[0] != "reader" {
			t.Fatalf("principal %+v", pr)
		}
	}
	// Client credentials: the subject is the client.
	c := p.claims()
	c["sub"] = "web"
	cl, err := v.Verify(context.Background(), p.sign(jose.EdDSA, "ed-1", c, nil), route)
	if err != nil || cl.Principal().Kind != "client" {
		t.Fatalf("client token: %v %+v", err, cl)
	}
}

func b64j(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// forge builds a token from a header and claims with the given signature.
func forge(h map[string]any, c claims, sig []byte) string {
	return b64j(h) + "." + b64j(c) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestRefused(t *testing.T) {
	p := newIDP(t)
	v, _ := p.verifier(t, nil)
	good := p.sign(jose.EdDSA, "ed-1", p.claims(), nil)
	parts := strings.Split(good, ".")
	rsaPubDER, _ := x509.MarshalPKIXPublicKey(p.rsa.Public())
	hsWith := func(secret []byte, kid string) string {
		input := b64j(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}) + "." + b64j(p.claims())
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	_, attacker, _ := ed25519.GenerateKey(rand.Reader)
	attackerJWK, _ := json.Marshal(jose.JSONWebKey{Key: attacker.Public(), KeyID: "ed-1"})
	signAttacker := func(h map[string]any) string {
		input := b64j(h) + "." + b64j(p.claims())
		return input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(attacker, []byte(input)))
	}
	expired, notYet, wrongIss, wrongAud, idTok, noExp := p.claims(), p.claims(), p.claims(), p.claims(), p.claims(), p.claims()
	expired["exp"] = time.Now().Add(-time.Minute).Unix()
	notYet["nbf"] = time.Now().Add(time.Minute).Unix()
	wrongIss["iss"] = "https://evil.example/"
	wrongAud["aud"] = []string{"billing-api"}
	idTok["nonce"] = "n-0S6_WzA2Mj"
	delete(noExp, "exp")
	big := p.claims()
	big["pad"] = strings.Repeat("x", 9000)
	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"alg none", forge(map[string]any{"alg": "none", "typ": "at+jwt"}, p.claims(), nil), ErrSignature},
		{"alg none with a signature", forge(map[string]any{"alg": "none", "typ": "at+jwt"}, p.claims(), []byte("x")), ErrAlgorithm},
		{"alg None", forge(map[string]any{"alg": "None", "typ": "at+jwt"}, p.claims(), []byte("x")), ErrAlgorithm},
		{"alg NONE", forge(map[string]any{"alg": "NONE", "typ": "at+jwt"}, p.claims(), []byte("x")), ErrAlgorithm},
		{"alg nOnE", forge(map[string]any{"alg": "nOnE", "typ": "at+jwt"}, p.claims(), []byte("x")), ErrAlgorithm},
		{"no alg", forge(map[string]any{"typ": "at+jwt"}, p.claims(), []byte("x")), ErrAlgorithm},
		{"HS256 keyed with the RSA public key (DER)", hsWith(rsaPubDER, "rsa-1"), ErrAlgorithm},
		{"HS256 keyed with the RSA public key (no kid)", hsWith(rsaPubDER, ""), ErrAlgorithm},
		{"EdDSA kid with ES256 alg", forge(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": "ed-1"}, p.claims(), make([]byte, 64)), ErrUnknownKey},
		{"null signature", parts[0] + "." + parts[1] + ".", ErrSignature},
		{"zero signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)), ErrSignature},
		{"truncated signature", parts[0] + "." + parts[1] + "." + parts[2][:20], ErrSignature},
		{"modified signature", parts[0] + "." + parts[1] + "." + flip(parts[2]), ErrSignature},
		{"modified payload", parts[0] + "." + b64j(wrongAud) + "." + parts[2], ErrSignature},
		{"missing part", parts[0] + "." + parts[1], ErrMalformed},
		{"extra part", good + ".x", ErrMalformed},
		{"padding", parts[0] + "=." + parts[1] + "." + parts[2], ErrMalformed},
		{"JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, ErrMalformed},
		{"JWE", b64j(map[string]any{"alg": "RSA-OAEP", "enc": "A256GCM"}) + ".a.b.c.d", ErrJWE},
		{"jwk header with the attacker's key", signAttacker(map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": "ed-1", "jwk": json.RawMessage(attackerJWK)}), ErrSignature},
		{"jku header", signAttacker(map[string]any{"alg": "EdDSA", "typ": "at+jwt", "jku": "https://evil.example/jwks"}), ErrSignature},
		{"x5u header", signAttacker(map[string]any{"alg": "EdDSA", "typ": "at+jwt", "x5u": "https://evil.example/cert"}), ErrSignature},
		{"x5c header", signAttacker(map[string]any{"alg": "EdDSA", "typ": "at+jwt", "x5c": []string{"MIIB"}}), ErrSignature},
		{"kid path traversal", p.sign(jose.EdDSA, "../../../../etc/passwd", p.claims(), nil), ErrUnknownKey},
		{"kid SQL", p.sign(jose.EdDSA, "x' OR '1'='1", p.claims(), nil), ErrUnknownKey},
		{"kid shell", p.sign(jose.EdDSA, "$(touch /tmp/pwned)", p.claims(), nil), ErrUnknownKey},
		{"unknown crit", p.sign(jose.EdDSA, "ed-1", p.claims(), map[jose.HeaderKey]any{"crit": []string{"exp"}, "exp": 1}), ErrCritical},
		{"duplicate alg", b64j(map[string]any{"x": 1})[:0] + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","alg":"none","typ":"at+jwt","kid":"ed-1"}`)) + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"expired", p.sign(jose.EdDSA, "ed-1", expired, nil), ErrExpired},
		{"not yet valid", p.sign(jose.EdDSA, "ed-1", notYet, nil), ErrNotYetValid},
		{"no exp", p.sign(jose.EdDSA, "ed-1", noExp, nil), ErrNoExpiry},
		{"wrong issuer", p.sign(jose.EdDSA, "ed-1", wrongIss, nil), ErrUnknownIss},
		{"wrong audience", p.sign(jose.EdDSA, "ed-1", wrongAud, nil), ErrAudience},
		{"ID token", p.sign(jose.EdDSA, "ed-1", idTok, map[jose.HeaderKey]any{"typ": "JWT"}), ErrType},
		{"ID token with typ at+jwt", p.sign(jose.EdDSA, "ed-1", idTok, nil), ErrIDToken},
		{"typ JWT", p.sign(jose.EdDSA, "ed-1", p.claims(), map[jose.HeaderKey]any{"typ": "JWT"}), ErrType},
		{"oversized", p.sign(jose.EdDSA, "ed-1", big, nil), ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), c.token, route)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// The scope check: valid token, missing scope.
	if _, err := v.Verify(context.Background(), good, &Require{Audience: "orders-api", Scopes: []string{"orders:admin"}}); !errors.Is(err, ErrScope) {
		t.Fatalf("missing scope: %v", err)
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[5] == 'A' {
		b[5] = 'B'
	} else {
		b[5] = 'A'
	}
	return string(b)
}

// HMAC secrets are accepted only as configured secrets of at least 256
// bits, bound to their algorithm.
func TestHMACIssuer(t *testing.T) {
	if _, err := NewIssuer(IssuerConfig{Issuer: "i", Static: []StaticKey{{KID: "h", Alg: "HS256", Key: []byte("short")}}, Algorithms: []string{"HS256"}}, nil); err == nil {
		t.Fatal("a 40-bit HMAC secret was accepted")
	}
	secret := []byte(strings.Repeat("s", 32))
	iss, err := NewIssuer(IssuerConfig{Issuer: "i", Static: []StaticKey{{KID: "h", Alg: "HS256", Key: secret}}, Algorithms: []string{"HS256"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier([]*Issuer{iss}, VerifierOptions{})
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "h"))
	tok, _ := josejwt.Signed(s).Claims(map[string]any{"iss": "i", "sub": "a", "aud": "x", "exp": time.Now().Add(time.Minute).Unix()}).Serialize()
	if _, err := v.Verify(context.Background(), tok, &Require{Audience: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewIssuer(IssuerConfig{Issuer: "i", Static: []StaticKey{{KID: "r", Alg: "HS256", Key: &rsa.PublicKey{}}}}, nil); err == nil {
		t.Fatal("an RSA key bound to HS256")
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := NewIssuer(IssuerConfig{Issuer: "i", Static: []StaticKey{{KID: "r", Key: small.Public()}}}, nil); err == nil {
		t.Fatal("a 1024-bit RSA key was accepted")
	}
	if _, err := NewIssuer(IssuerConfig{Issuer: "i", JWKSURL: "http://x", Algorithms: []string{"none"}}, nil); err == nil {
		t.Fatal("alg none was allowed")
	}
	if _, err := NewIssuer(IssuerConfig{Issuer: "i", JWKSURL: "http://x", Leeway: 5 * time.Minute}, nil); err == nil {
		t.Fatal("a 5 minute leeway was accepted")
	}
}

// JWT-08: an unknown kid refetches at most once per interval; a failed
// refetch keeps serving the cached keys; a removed key stops verifying,
// cached tokens included.
func TestJWKSCache(t *testing.T) {
	p := newIDP(t)
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	iss, err := NewIssuer(IssuerConfig{Issuer: p.issuer, JWKSURL: p.srv.URL + "/jwks"}, clock)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier([]*Issuer{iss}, VerifierOptions{Now: clock})
	ctx := context.Background()
	c := p.claims()
	c["exp"] = now.Add(time.Hour).Unix()
	tok := p.sign(jose.EdDSA, "ed-1", c, nil)
	if _, err := v.Verify(ctx, tok, route); err != nil {
		t.Fatal(err)
	}
	if n := p.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches", n)
	}
	unknown := p.sign(jose.EdDSA, "unknown-kid", c, nil)
	for range 50 {
		v.Verify(ctx, unknown, route)
	}
	if n := p.fetches.Load(); n != 1 {
		t.Fatalf("50 unknown kids within the interval of the first fetch caused %d refetches", n-1)
	}
	advance(DefaultRefreshInterval + time.Second)
	for range 50 {
		v.Verify(ctx, unknown, route)
	}
	if n := p.fetches.Load(); n != 2 {
		t.Fatalf("50 unknown kids in a new interval caused %d refetches, want 1", n-1)
	}
	// A new key appears: found on the next refetch, after the interval.
	_, ed2, _ := ed25519.GenerateKey(rand.Reader)
	p.publish("ed-2", ed2.Public(), "EdDSA")
	s2, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: ed2}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "ed-2"))
	tok2, _ := josejwt.Signed(s2).Claims(map[string]any(c)).Serialize()
	if _, err := v.Verify(ctx, tok2, route); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("new key within the interval: %v", err)
	}
	advance(DefaultRefreshInterval + time.Second)
	if _, err := v.Verify(ctx, tok2, route); err != nil {
		t.Fatalf("new key after the interval: %v", err)
	}
	// The issuer goes down: cached keys keep serving.
	p.fail.Store(true)
	advance(DefaultRefreshInterval + time.Second)
	v.Verify(ctx, p.sign(jose.EdDSA, "unknown-kid-2", c, nil), route) // prompts a failing refetch
	if _, err := v.Verify(ctx, p.sign(jose.EdDSA, "ed-1", c, nil), route); err != nil {
		t.Fatalf("cached key after a failed refetch: %v", err)
	}
	p.fail.Store(false)
	// ed-1 leaves the set: its tokens stop working, also the cached one.
	p.unpublish("ed-1")
	advance(DefaultRefreshInterval + time.Second)
	v.Verify(ctx, p.sign(jose.EdDSA, "unknown-kid-3", c, nil), route)
	if _, err := v.Verify(ctx, tok, route); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("token of a removed key: %v", err)
	}
	if _, err := v.Verify(ctx, tok2, route); err != nil {
		t.Fatalf("token of a kept key: %v", err)
	}
}

func TestDiscovery(t *testing.T) {
	p := newIDP(t)
	v, _ := p.verifier(t, func(c *IssuerConfig) { c.JWKSURL, c.DiscoveryURL = "", p.srv.URL+"/.well-known/openid-configuration" })
	if _, err := v.Verify(context.Background(), p.sign(jose.ES256, "ec-1", p.claims(), nil), route); err != nil {
		t.Fatal(err)
	}
	// A discovery document naming another issuer is refused.
	other, _ := p.verifier(t, func(c *IssuerConfig) {
		c.Issuer, c.JWKSURL, c.DiscoveryURL = "https://other.example/", "", p.srv.URL+"/.well-known/openid-configuration"
	})
	cl := p.claims()
	cl["iss"] = "https://other.example/"
	if _, err := other.Verify(context.Background(), p.sign(jose.ES256, "ec-1", cl, nil), route); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("mismatched discovery issuer: %v", err)
	}
}

type denyList map[string]bool

func (d denyList) Revoked(iss, jti, sub string) bool { return d["jti:"+jti] || d["sub:"+sub] }

// JWT-09: revocation applies on every request, cached tokens included.
func TestRevocation(t *testing.T) {
	p := newIDP(t)
	iss, _ := NewIssuer(IssuerConfig{Issuer: p.issuer, JWKSURL: p.srv.URL + "/jwks"}, nil)
	deny := denyList{}
	v := NewVerifier([]*Issuer{iss}, VerifierOptions{Revocations: deny})
	c := p.claims()
	tok := p.sign(jose.EdDSA, "ed-1", c, nil)
	if _, err := v.Verify(context.Background(), tok, route); err != nil {
		t.Fatal(err)
	}
	if v.cache.len() != 1 {
		t.Fatal("token not cached")
	}
	deny["jti:"+c["jti"].(string)] = true
	if _, err := v.Verify(context.Background(), tok, route); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked jti: %v", err)
	}
	c2 := p.claims()
	c2["sub"], c2["jti"] = "mallory", "other"
	deny["sub:mallory"] = true
	if _, err := v.Verify(context.Background(), p.sign(jose.EdDSA, "ed-1", c2, nil), route); !errors.Is(err, ErrRevoked) {
		t.Fatalf("disabled subject: %v", err)
	}
}

// The cache is bounded and never serves a token past its exp.
func TestTokenCacheBounds(t *testing.T) {
	p := newIDP(t)
	now := time.Now()
	clock := func() time.Time { return now }
	iss, _ := NewIssuer(IssuerConfig{Issuer: p.issuer, JWKSURL: p.srv.URL + "/jwks"}, clock)
	v := NewVerifier([]*Issuer{iss}, VerifierOptions{CacheSize: 64, Now: clock})
	for i := range 500 {
		c := p.claims()
		c["jti"] = i
		c["jti"] = "t" + string(rune('a'+i%26)) + time.Duration(i).String()
		v.Verify(context.Background(), p.sign(jose.EdDSA, "ed-1", c, nil), route)
	}
	if n := v.cache.len(); n > 64 {
		t.Fatalf("cache holds %d, bound 64", n)
	}
	c := p.claims()
	c["exp"] = now.Add(10 * time.Second).Unix()
	tok := p.sign(jose.EdDSA, "ed-1", c, nil)
	if _, err := v.Verify(context.Background(), tok, route); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute) // past exp and leeway
	if _, err := v.Verify(context.Background(), tok, route); !errors.Is(err, ErrExpired) {
		t.Fatalf("cached token past exp: %v", err)
	}
	_ = crypto.SHA256
}
