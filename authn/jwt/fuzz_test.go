package jwt

import (
	"context"
	"errors"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzVerify: arbitrary tokens never panic and never verify (the fuzzer
// cannot forge an Ed25519 signature), and every refusal is one of the
// package's errors.
func FuzzVerify(f *testing.F) {
	t := &testing.T{}
	p := newIDP(t)
	f.Cleanup(p.srv.Close)
	iss, err := NewIssuer(IssuerConfig{Issuer: p.issuer, JWKSURL: p.srv.URL + "/jwks"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	v := NewVerifier([]*Issuer{iss}, VerifierOptions{CacheSize: -1})
	good := p.sign(jose.EdDSA, "ed-1", p.claims(), nil)
	if _, err := v.Verify(context.Background(), good, route); err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.")
	f.Add("a.b.c.d.e")
	f.Add(`{"payload":"x"}`)
	known := []error{ErrTooLarge, ErrMalformed, ErrJWE, ErrAlgorithm, ErrCritical, ErrUnknownIss, ErrUnknownKey, ErrSignature,
		ErrExpired, ErrNoExpiry, ErrNotYetValid, ErrAudience, ErrType, ErrIDToken, ErrRevoked, ErrScope, ErrUnavailable}
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := v.Verify(context.Background(), raw, route)
		if err == nil {
			if raw != good {
				// Only the seed itself verifies.
				t.Fatalf("a fuzzed token verified: %q", raw)
			}
			return
		}
		for _, k := range known {
			if errors.Is(err, k) {
				return
			}
		}
		t.Fatalf("unexpected error %v", err)
	})
}
