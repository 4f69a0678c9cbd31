package secaudit

import (
	"context"
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
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// jkuURL is the key set URL the jku forgery names. The .invalid TLD never
// resolves (RFC 2606), and the probe itself never fetches it.
const jkuURL = "https://jwks.gatehouse-audit.invalid/.well-known/jwks.json"

var b64 = base64.RawURLEncoding

// forgery is one token a gateway must refuse.
type forgery struct {
	rule, what, token string
}

// probeJWT sends forged tokens to AuthPath; any 2xx is a critical
// finding (JWT-01 to JWT-05).
func (p *prober) probeJWT(ctx context.Context) {
	if !p.protected(ctx, "jwt") {
		return
	}
	keys, issuer := p.issuerKeys(ctx)
	hdr, claims := map[string]any{"typ": "at+jwt"}, map[string]any{}
	var origParts []string
	if p.o.Token != "" {
		origParts = strings.Split(p.o.Token, ".")
		if len(origParts) != 3 || decodeSegment(origParts[0], &hdr) != nil || decodeSegment(origParts[1], &claims) != nil {
			p.inconclusive(p.at(p.o.AuthPath), "jwt: --token is not a compact JWS; only the tokens that need no original were forged")
			origParts, hdr, claims = nil, map[string]any{"typ": "at+jwt"}, map[string]any{}
		} else {
			a, err := p.do(ctx, http.MethodGet, p.o.AuthPath, bearer(p.o.Token), nil)
			if p.failed("jwt", p.o.AuthPath, err) {
				return
			}
			if !a.ok() {
				p.inconclusive(p.at(p.o.AuthPath), "jwt: the given token itself was answered %d at the auth path, so a refused forgery proves little; pass an --auth-path where it is accepted", a.status)
			}
		}
	}
	now := p.now()
	if len(claims) == 0 {
		iss := issuer
		if iss == "" {
			iss = p.origin
		}
		claims = map[string]any{"iss": iss, "sub": "gatehouse-audit", "aud": iss, "scope": "", "iat": now.Unix()}
	}
	fresh := clone(claims)
	fresh["exp"] = now.Add(10 * time.Minute).Unix()
	fresh["jti"] = randomName()
	typ, _ := hdr["typ"].(string)

	var fs []forgery
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		h := map[string]any{"alg": alg}
		if typ != "" {
			h["typ"] = typ
		}
		t := segment(h) + "." + segment(fresh)
		fs = append(fs, forgery{ruleAlgNone, fmt.Sprintf("alg %q with an empty signature", alg), t + "."},
			forgery{ruleAlgNone, fmt.Sprintf("alg %q without a signature part", alg), t})
	}
	n := 0
	for _, k := range keys {
		for _, s := range hmacSecrets(k) {
			if n >= 18 {
				break
			}
			n++
			h := map[string]any{"alg": "HS256", "typ": typ}
			if k.KeyID != "" {
				h["kid"] = k.KeyID
			}
			fs = append(fs, forgery{ruleAlgConfusion, fmt.Sprintf("HS256 keyed with the issuer's public key %q as %s", k.KeyID, s.name), signHS256(h, fresh, s.secret)})
		}
	}
	if len(keys) == 0 {
		p.inconclusive(p.at(p.o.AuthPath), "jwt: no JWKS on this host (metadata or /.well-known/jwks.json): the HS256 algorithm-confusion forgeries were not made")
	}
	own, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err == nil {
		pub, _ := jose.JSONWebKey{Key: &own.PublicKey, Algorithm: "ES256", Use: "sig"}.MarshalJSON()
		fs = append(fs,
			forgery{ruleJWKHeader, "ES256 signed by a key of the probe's, embedded in the jwk header",
				signES256(map[string]any{"alg": "ES256", "typ": typ, "jwk": json.RawMessage(pub)}, fresh, own)},
			forgery{ruleJKUHeader, "ES256 signed by a key of the probe's, with a jku header naming " + jkuURL,
				signES256(map[string]any{"alg": "ES256", "typ": typ, "kid": randomName(), "jku": jkuURL}, fresh, own)},
		)
	}
	if origParts != nil {
		expired := clone(claims)
		expired["exp"] = now.Add(-time.Hour).Unix()
		otherAud := clone(claims)
		otherAud["aud"] = "gatehouse-audit-other-audience"
		fs = append(fs,
			forgery{ruleModifiedClaims, "the given token with exp an hour in the past, original signature", origParts[0] + "." + segment(expired) + "." + origParts[2]},
			forgery{ruleModifiedClaims, "the given token with aud changed, original signature", origParts[0] + "." + segment(otherAud) + "." + origParts[2]},
			forgery{ruleStrippedSig, "the given token with an empty signature", origParts[0] + "." + origParts[1] + "."},
			forgery{ruleStrippedSig, "the given token without its signature part", origParts[0] + "." + origParts[1]},
		)
	}
	for _, f := range fs {
		a, err := p.do(ctx, http.MethodGet, p.o.AuthPath, bearer(f.token), nil)
		if p.failed("jwt", p.o.AuthPath, err) {
			continue
		}
		if a.ok() {
			p.report(f.rule, p.at(p.o.AuthPath), fmt.Sprintf("a bearer token forged as %s was answered %d", f.what, a.status))
		}
	}
}

// issuerKeys learns the issuer and its public keys from this host only:
// RFC 8414 or OpenID metadata (its jwks_uri when it is on this host), then
// /.well-known/jwks.json.
func (p *prober) issuerKeys(ctx context.Context) ([]jose.JSONWebKey, string) {
	issuer := ""
	var jwksPaths []string
	for _, m := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		a, err := p.do(ctx, http.MethodGet, m, nil, nil)
		if err != nil || !a.ok() {
			continue
		}
		var md struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if json.Unmarshal(a.body, &md) != nil || md.JWKSURI == "" {
			continue
		}
		if issuer == "" {
			issuer = md.Issuer
		}
		u, err := url.Parse(md.JWKSURI)
		if err != nil || !strings.EqualFold(u.Scheme+"://"+u.Host, p.origin) || !strings.HasPrefix(u.EscapedPath(), "/") {
			p.inconclusive(p.at(m), "jwt: the metadata's jwks_uri %q is not on this host; it was not fetched", md.JWKSURI)
			continue
		}
		jwksPaths = append(jwksPaths, u.RequestURI())
		break
	}
	jwksPaths = append(jwksPaths, "/.well-known/jwks.json")
	for _, jp := range jwksPaths {
		a, err := p.do(ctx, http.MethodGet, jp, nil, nil)
		if err != nil || !a.ok() {
			continue
		}
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if json.Unmarshal(a.body, &set) != nil {
			continue
		}
		var keys []jose.JSONWebKey
		for _, raw := range set.Keys {
			var k jose.JSONWebKey
			if k.UnmarshalJSON(raw) == nil && k.IsPublic() {
				keys = append(keys, k)
			}
			if len(keys) == 3 {
				break
			}
		}
		if len(keys) > 0 {
			return keys, issuer
		}
	}
	return nil, issuer
}

type hmacSecret struct {
	name   string
	secret []byte
}

// hmacSecrets are the encodings of a public key an algorithm-confused
// verifier may use as an HMAC secret.
func hmacSecrets(k jose.JSONWebKey) []hmacSecret {
	var out []hmacSecret
	if der, err := x509.MarshalPKIXPublicKey(k.Key); err == nil {
		p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		out = append(out, hmacSecret{"PEM SPKI", p}, hmacSecret{"PEM SPKI without the final newline", p[:len(p)-1]}, hmacSecret{"DER SPKI", der})
	}
	if j, err := k.MarshalJSON(); err == nil {
		out = append(out, hmacSecret{"JWK JSON", j})
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		der := x509.MarshalPKCS1PublicKey(pub)
		out = append(out, hmacSecret{"PEM PKCS#1", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: der})}, hmacSecret{"DER PKCS#1", der})
	case ed25519.PublicKey:
		out = append(out, hmacSecret{"raw key bytes", []byte(pub)})
	case *ecdsa.PublicKey:
		if e, err := pub.ECDH(); err == nil {
			out = append(out, hmacSecret{"raw uncompressed point", e.Bytes()})
		}
	}
	return out
}

func segment(v any) string {
	b, _ := json.Marshal(v)
	return b64.EncodeToString(b)
}

func decodeSegment(s string, v any) error {
	b, err := b64.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func clone(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func signHS256(h, c map[string]any, secret []byte) string {
	in := segment(h) + "." + segment(c)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + b64.EncodeToString(m.Sum(nil))
}

func signES256(h, c map[string]any, k *ecdsa.PrivateKey) string {
	in := segment(h) + "." + segment(c)
	sum := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
	if err != nil {
		return in + "."
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + b64.EncodeToString(sig)
}
