// Package credential finds the one credential of a request (KEY-07): a
// bearer token in Authorization or an API key in X-API-Key, parsed byte
// for byte. Two Authorization headers, two X-API-Key headers, or a bearer
// token and an API key that differ are refused, never resolved by
// precedence, since the gateway and the upstream might each pick another
// one. Credentials in the URL query are found in any percent-encoding
// (KEY-06). Wrap is the stage shape both authenticators share. Functions
// only; safe for concurrent use.
package credential

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/record"
)

// Checker is an authenticator: Check finds and verifies the request's
// credential (it may return the principal with an error, as for a missing
// scope), Fail answers a failed Check.
type Checker interface {
	Check(r *http.Request) (*identity.Principal, error)
	Fail(w http.ResponseWriter, r *http.Request, err error)
}

// Wrap returns the authentication stage of c: the principal goes into the
// request record (record.From), also when Check refuses it, and on success
// into the request context (identity.With); failures are answered by Fail.
func Wrap(c Checker, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := c.Check(r)
		if p != nil {
			record.From(r.Context()).SetPrincipal(p)
		}
		if err != nil {
			c.Fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(identity.With(r.Context(), p)))
	})
}

// Header names.
const (
	Authorization = "Authorization"
	XAPIKey       = "X-Api-Key"
)

// ErrAmbiguous: the request carries more than one credential.
var ErrAmbiguous = errors.New("credential: more than one credential in the request")

// Bearer returns the token of an Authorization value with the Bearer
// scheme (case-insensitive), or "". Only the spaces after the scheme are
// skipped (RFC 9110 11.4: 1*SP); the token itself is taken as sent, so a
// trailing U+00A0 or U+0085 stays part of it and fails its syntax check.
func Bearer(v string) string {
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimLeft(v[7:], " ")
	}
	return ""
}

// Presented returns the credential a route reads (bearer tokens from
// Authorization when authorization is set, keys from X-API-Key when
// apiKey is set) and the header it came from; "" when there is none.
// ErrAmbiguous whatever the route reads.
func Presented(h http.Header, authorization, apiKey bool) (value, header string, err error) {
	auths, keys := h[Authorization], h[XAPIKey]
	if len(auths) > 1 || len(keys) > 1 {
		return "", "", ErrAmbiguous
	}
	var bearer, key string
	if len(auths) == 1 {
		bearer = Bearer(auths[0])
	}
	if len(keys) == 1 {
		key = keys[0]
	}
	// Any Authorization next to an API key is a second credential unless
	// it is the same key as a bearer token: "Bearer\t<k>", Basic, Token...
	// are not resolved by precedence either.
	if len(auths) == 1 && key != "" && bearer != key {
		return "", "", ErrAmbiguous
	}
	switch {
	case authorization && bearer != "":
		return bearer, Authorization, nil
	case apiKey && key != "":
		return key, XAPIKey, nil
	}
	return "", "", nil
}

// Remove deletes the credential headers the gateway consumed: X-API-Key,
// and Authorization when it holds a bearer credential (with an API key
// present, Presented allows only the same key in Authorization).
func Remove(h http.Header) {
	delete(h, XAPIKey)
	if v := h[Authorization]; len(v) == 1 && Bearer(v[0]) != "" {
		delete(h, Authorization)
	}
}

// unescape decodes every valid %XX escape and '+', and keeps invalid ones
// as they are.
func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// queryNames are parameter names that carry credentials.
var queryNames = map[string]bool{"api_key": true, "apikey": true, "api-key": true, "key": true, "x-api-key": true,
	"x_api_key": true, "access_token": true, "access-token": true}

// InQuery reports whether a raw query carries something that looks like a
// credential: a parameter named like one, or a value with one of the
// prefixes (such as "gthk_"), in any case and after up to three rounds of
// percent-decoding ("%67thk_", "%2567thk_").
func InQuery(raw string, prefixes ...string) bool {
	s := raw
	for range 4 {
		low := strings.ToLower(s)
		for _, p := range prefixes {
			if strings.Contains(low, strings.ToLower(p)) {
				return true
			}
		}
		for part := range strings.SplitSeq(low, "&") {
			for sub := range strings.SplitSeq(part, ";") {
				name, _, _ := strings.Cut(sub, "=")
				if queryNames[strings.TrimSpace(name)] {
					return true
				}
			}
		}
		next := unescape(s) // lenient: one bad escape must not hide the rest
		if next == s {
			return false
		}
		s = next
	}
	return true // still encoded after four rounds: refuse rather than guess
}
