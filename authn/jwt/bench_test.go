package jwt

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func benchSetup(b *testing.B, cacheSize int) (*Verifier, *idp) {
	t := &testing.T{}
	p := newIDP(t)
	b.Cleanup(p.srv.Close)
	iss, err := NewIssuer(IssuerConfig{Issuer: p.issuer, JWKSURL: p.srv.URL + "/jwks"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return NewVerifier([]*Issuer{iss}, VerifierOptions{CacheSize: cacheSize}), p
}

// BenchmarkVerify: a repeat token (cache hit), a token verified every time
// (cold EdDSA), and the bare crypto/ed25519 verification of the same
// signing input for comparison.
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	b.Run("cache-hit", func(b *testing.B) {
		v, p := benchSetup(b, 0)
		tok := p.sign(jose.EdDSA, "ed-1", p.claims(), nil)
		if _, err := v.Verify(ctx, tok, route); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok, route); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cold-EdDSA", func(b *testing.B) {
		v, p := benchSetup(b, -1)
		tok := p.sign(jose.EdDSA, "ed-1", p.claims(), nil)
		if _, err := v.Verify(ctx, tok, route); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok, route); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare-ed25519", func(b *testing.B) {
		_, p := benchSetup(b, -1)
		tok := p.sign(jose.EdDSA, "ed-1", p.claims(), nil)
		i := strings.LastIndexByte(tok, '.')
		input := []byte(tok[:i])
		sig, _ := b64.DecodeString(tok[i+1:])
		pub := p.ed.Public().(ed25519.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(pub, input, sig) {
				b.Fatal("bad")
			}
		}
	})
	b.Run("cold-ES256", func(b *testing.B) {
		v, p := benchSetup(b, -1)
		tok := p.sign(jose.ES256, "ec-1", p.claims(), nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok, route); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cold-RS256", func(b *testing.B) {
		v, p := benchSetup(b, -1)
		tok := p.sign(jose.RS256, "rsa-1", p.claims(), nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok, route); err != nil {
				b.Fatal(err)
			}
		}
	})
}
