// Package jwt is the JWT access-token authentication stage (JWT-01..09):
// strict validation of compact JWS tokens from configured issuers (the
// built-in authorization server or external identity providers), with a
// JWKS cache per issuer and a bounded cache of verified tokens.
//
// A token is judged before any key is touched: size cap, compact
// serialization only (no JSON serialization, no JWE), a header with an
// allowlisted algorithm (never none, in any spelling), no critical
// extensions; header-supplied keys (jwk, jku, x5u, x5c) are never used and
// kid is only a map key. Each key is bound to one algorithm, so an HS256
// token keyed with an RSA public key cannot verify. Then exp (required),
// nbf and iat with a small leeway, the exact issuer, the route's audience,
// the typ (at+jwt unless an issuer says otherwise; ID tokens are refused),
// scopes, and revocation by jti or subject on every request, cached or not.
//
// Signatures are checked with the standard library's crypto on the signing
// input; go-jose parses the issuers' JWKS.
package jwt

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/go-json-experiment/json/jsontext"
)

// Errors of Verify. All but ErrScope and ErrUnavailable answer 401.
var (
	ErrMissing     = errors.New("jwt: no bearer token presented")
	ErrTooLarge    = errors.New("jwt: token larger than the limit")
	ErrMalformed   = errors.New("jwt: not a compact JWS")
	ErrJWE         = errors.New("jwt: an encrypted token (JWE) where a signed one is expected")
	ErrAlgorithm   = errors.New("jwt: algorithm not allowed")
	ErrCritical    = errors.New("jwt: unsupported critical header")
	ErrUnknownIss  = errors.New("jwt: issuer not trusted")
	ErrUnknownKey  = errors.New("jwt: no key of the issuer matches kid and alg")
	ErrSignature   = errors.New("jwt: signature does not verify")
	ErrExpired     = errors.New("jwt: token expired")
	ErrNoExpiry    = errors.New("jwt: token has no exp")
	ErrNotYetValid = errors.New("jwt: token not yet valid")
	ErrAudience    = errors.New("jwt: token not meant for this audience")
	ErrType        = errors.New("jwt: token type is not an access token")
	ErrIDToken     = errors.New("jwt: an ID token is not an access token")
	ErrRevoked     = errors.New("jwt: token revoked")
	ErrScope       = errors.New("jwt: token lacks a required scope")
)

// DefaultMaxTokenBytes caps a token before it is parsed.
const DefaultMaxTokenBytes = 8 << 10

// Revocations answers whether a token id or a subject is revoked. It is
// consulted on every request, also for cached tokens, so it must be fast
// (an in-memory set fed by the store).
type Revocations interface {
	Revoked(issuer, jti, subject string) bool
}

// Verifier checks tokens against a set of issuers. Safe for concurrent use.
type Verifier struct {
	issuers  map[string]*Issuer
	maxBytes int
	cache    *tokenCache
	revoked  Revocations
	now      func() time.Time
}

// VerifierOptions configure a Verifier.
type VerifierOptions struct {
	// MaxTokenBytes caps tokens. Default 8 KiB.
	MaxTokenBytes int
	// CacheSize bounds the verified-token cache (entries). 0: 10 000;
	// negative: no cache.
	CacheSize int
	// Revocations, when set, is asked on every request.
	Revocations Revocations
	Now         func() time.Time
}

// NewVerifier returns a verifier trusting issuers.
func NewVerifier(issuers []*Issuer, o VerifierOptions) *Verifier {
	if o.MaxTokenBytes <= 0 {
		o.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	v := &Verifier{issuers: map[string]*Issuer{}, maxBytes: o.MaxTokenBytes, revoked: o.Revocations, now: o.Now}
	if o.CacheSize >= 0 {
		size := o.CacheSize
		if size == 0 {
			size = 10000
		}
		v.cache = newTokenCache(size)
	}
	for _, iss := range issuers {
		v.issuers[iss.cfg.Issuer] = iss
	}
	return v
}

// Claims are the validated claims of a token.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	Expiry    time.Time
	ID        string
	ClientID  string
	Scopes    []string
	Roles     []string
	Tenant    string
	NotBefore time.Time
	key       *key
}

// Require is what a route asks of a token.
type Require struct {
	// Audience must be among the token's aud. Required.
	Audience string
	// Scopes must all be granted.
	Scopes []string
	// Issuers, when set, limits the issuers accepted on this route.
	Issuers []string
}

// Verify checks raw against the issuers and req. On ErrScope the claims
// are returned too.
func (v *Verifier) Verify(ctx context.Context, raw string, req *Require) (*Claims, error) {
	if len(raw) > v.maxBytes {
		return nil, ErrTooLarge
	}
	now := v.now()
	c := v.cache.get(raw, now)
	if c == nil {
		var err error
		if c, err = v.verify(ctx, raw, now); err != nil {
			return nil, err
		}
		v.cache.put(raw, c)
	}
	return c, v.authorize(c, req)
}

// VerifyAnyAudience checks raw like Verify, revocation included, but for
// any audience and scope: for an authorization server introspecting or
// revoking its own tokens.
func (v *Verifier) VerifyAnyAudience(ctx context.Context, raw string) (*Claims, error) {
	if len(raw) > v.maxBytes {
		return nil, ErrTooLarge
	}
	c, err := v.verify(ctx, raw, v.now())
	if err != nil {
		return nil, err
	}
	if v.isRevoked(c) {
		return nil, ErrRevoked
	}
	return c, nil
}

func (v *Verifier) isRevoked(c *Claims) bool {
	return v.revoked != nil && v.revoked.Revoked(c.Issuer, c.ID, c.Subject)
}

// authorize applies the per-route and per-request checks, which hold for
// cached tokens too.
func (v *Verifier) authorize(c *Claims, req *Require) error {
	if v.isRevoked(c) {
		return ErrRevoked
	}
	if len(req.Issuers) > 0 && !slices.Contains(req.Issuers, c.Issuer) {
		return ErrUnknownIss
	}
	if req.Audience == "" || !slices.Contains(c.Audience, req.Audience) {
		return ErrAudience
	}
	for _, s := range req.Scopes {
		if !slices.Contains(c.Scopes, s) {
			return ErrScope
		}
	}
	return nil
}

type header struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
	Enc  string          `json:"enc"`
}

// b64 decodes base64url without padding, strictly: non-zero unused bits
// (a second spelling of the same bytes) are refused.
var b64 = base64.RawURLEncoding.Strict()

// compact is a parsed compact JWS whose signature is not yet checked.
type compact struct {
	h       header
	payload []byte
	input   string // header.payload, the signing input
	sig     []byte
}

// parseCompact checks a token's structure and header (JWT-01, -03, -04)
// before any key is looked at.
func parseCompact(raw string) (*compact, error) {
	if strings.HasPrefix(raw, "{") {
		return nil, ErrMalformed // JSON serialization
	}
	parts := strings.Split(raw, ".")
	switch len(parts) {
	case 3:
	case 5:
		return nil, ErrJWE
	default:
		return nil, ErrMalformed
	}
	for _, p := range parts {
		if !isB64URL(p) {
			return nil, ErrMalformed
		}
	}
	if parts[2] == "" {
		return nil, ErrSignature // unsigned (alg none style) or stripped signature
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, ErrMalformed
	}
	c := &compact{input: raw[:len(parts[0])+1+len(parts[1])]}
	if err := strictJSON(hb, &c.h); err != nil {
		return nil, ErrMalformed
	}
	if c.h.Enc != "" {
		return nil, ErrJWE
	}
	if strings.EqualFold(c.h.Alg, "none") || c.h.Alg == "" {
		return nil, ErrAlgorithm
	}
	if len(c.h.Crit) > 0 && string(c.h.Crit) != "null" {
		return nil, ErrCritical // no extension is understood
	}
	if c.payload, err = b64.DecodeString(parts[1]); err != nil {
		return nil, ErrMalformed
	}
	if c.sig, err = b64.DecodeString(parts[2]); err != nil {
		return nil, ErrMalformed
	}
	return c, nil
}

func (v *Verifier) verify(ctx context.Context, raw string, now time.Time) (*Claims, error) {
	tok, err := parseCompact(raw)
	if err != nil {
		return nil, err
	}
	h := tok.h
	var cl rawClaims
	if err := strictJSON(tok.payload, &cl); err != nil {
		return nil, ErrMalformed
	}
	iss := v.issuers[cl.Iss]
	if iss == nil {
		return nil, ErrUnknownIss
	}
	if !iss.algs[h.Alg] {
		return nil, ErrAlgorithm
	}
	k, err := iss.lookup(ctx, h.Kid, h.Alg)
	if err != nil {
		return nil, err
	}
	if !verifySig(k, h.Alg, tok.input, tok.sig) {
		return nil, ErrSignature
	}
	// The signature holds; now the claims.
	if !typeAllowed(h.Typ, iss.cfg.Types) {
		return nil, ErrType
	}
	if cl.Nonce != "" || cl.AtHash != "" || cl.CHash != "" {
		return nil, ErrIDToken
	}
	leeway := iss.cfg.Leeway
	if cl.Exp == nil {
		return nil, ErrNoExpiry
	}
	exp := cl.Exp.time()
	if now.After(exp.Add(leeway)) {
		return nil, ErrExpired
	}
	var nbf time.Time
	if cl.Nbf != nil {
		nbf = cl.Nbf.time()
		if now.Add(leeway).Before(nbf) {
			return nil, ErrNotYetValid
		}
	}
	if cl.Iat != nil && now.Add(leeway).Before(cl.Iat.time()) {
		return nil, ErrNotYetValid
	}
	c := &Claims{Issuer: cl.Iss, Subject: cl.Sub, Audience: cl.Aud, Expiry: exp, NotBefore: nbf, ID: cl.Jti,
		ClientID: cl.ClientID, Roles: cl.Roles, Tenant: cl.Tenant, key: k}
	switch {
	case cl.Scope != "":
		c.Scopes = strings.Fields(cl.Scope)
	case len(cl.Scp) > 0:
		c.Scopes = cl.Scp
	}
	return c, nil
}

// typeAllowed compares typ with the allowed values, case-insensitively
// and with or without the application/ prefix (RFC 7515 4.1.9).
func typeAllowed(typ string, allowed []string) bool {
	t := strings.TrimPrefix(strings.ToLower(typ), "application/")
	for _, a := range allowed {
		if strings.TrimPrefix(strings.ToLower(a), "application/") == t {
			return true
		}
	}
	return false
}

func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// strictJSON decodes one JSON object and refuses trailing data, invalid
// UTF-8 and repeated names ({"alg":"RS256","alg":"none"} must not mean
// one thing here and another to the issuer).
func strictJSON(b []byte, v any) error {
	if !jsontext.Value(b).IsValid() {
		return errors.New("invalid JSON or repeated names")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

type numericDate float64

func (n numericDate) time() time.Time {
	sec, frac := int64(n), float64(n)-float64(int64(n))
	return time.Unix(sec, int64(frac*1e9))
}

type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

type rawClaims struct {
	Iss      string       `json:"iss"`
	Sub      string       `json:"sub"`
	Aud      audience     `json:"aud"`
	Exp      *numericDate `json:"exp"`
	Nbf      *numericDate `json:"nbf"`
	Iat      *numericDate `json:"iat"`
	Jti      string       `json:"jti"`
	ClientID string       `json:"client_id"`
	Scope    string       `json:"scope"`
	Scp      []string     `json:"scp"`
	Roles    []string     `json:"roles"`
	Tenant   string       `json:"tenant"`
	Nonce    string       `json:"nonce"`
	AtHash   string       `json:"at_hash"`
	CHash    string       `json:"c_hash"`
}

func hashFor(alg string) (crypto.Hash, func() hash.Hash) {
	switch alg[2:] {
	case "384":
		return crypto.SHA384, sha512.New384
	case "512":
		return crypto.SHA512, sha512.New
	}
	return crypto.SHA256, sha256.New
}

// verifySig checks sig over input with k, which is bound to alg.
func verifySig(k *key, alg, input string, sig []byte) bool {
	if k.alg != alg {
		return false
	}
	if alg == "EdDSA" {
		pub, ok := k.pub.(ed25519.PublicKey)
		return ok && ed25519.Verify(pub, []byte(input), sig)
	}
	h, newHash := hashFor(alg)
	switch alg[:2] {
	case "HS":
		secret, ok := k.pub.([]byte)
		if !ok {
			return false
		}
		m := hmac.New(newHash, secret)
		m.Write([]byte(input))
		return hmac.Equal(m.Sum(nil), sig)
	case "RS", "PS":
		pub, ok := k.pub.(*rsa.PublicKey)
		if !ok {
			return false
		}
		d := newHash()
		d.Write([]byte(input))
		if alg[:2] == "RS" {
			return rsa.VerifyPKCS1v15(pub, h, d.Sum(nil), sig) == nil
		}
		return rsa.VerifyPSS(pub, h, d.Sum(nil), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case "ES":
		pub, ok := k.pub.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		d := newHash()
		d.Write([]byte(input))
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pub, d.Sum(nil), r, s)
	}
	return false
}

// Principal is the caller a token stands for: a client when the subject is
// the token's own client (client credentials), otherwise a user.
func (c *Claims) Principal() *identity.Principal {
	kind := identity.KindUser
	if c.ClientID != "" && c.Subject == c.ClientID || c.Subject == "" {
		kind = identity.KindClient
	}
	sub := c.Subject
	if sub == "" {
		sub = c.ClientID
	}
	p := &identity.Principal{Kind: kind, Subject: sub, Issuer: c.Issuer, Tenant: c.Tenant, KeyID: c.ID, Roles: c.Roles, Scopes: c.Scopes}
	if c.ClientID != "" {
		p.Attrs = map[string]any{"client_id": c.ClientID}
	}
	return p
}

func (c *Claims) String() string { return fmt.Sprintf("%s %s", c.Issuer, c.Subject) }
