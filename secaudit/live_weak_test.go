package secaudit_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/secaudit"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	jose "github.com/go-jose/go-jose/v4"
)

// weakTarget is a deliberately broken API server: every weakness the live
// probe looks for, on one host. other is a second host that nothing may
// contact: the weak target's metadata and redirects point at it.
type weakTarget struct {
	srv, other        *httptest.Server
	requests, conns   atomic.Int64
	otherHits         atomic.Int64
	pub               ed25519.PublicKey
	priv              ed25519.PrivateKey
	key1, key2, token string
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

var b64 = base64.RawURLEncoding

func newWeakTarget(t *testing.T) *weakTarget {
	t.Helper()
	w := &weakTarget{key1: "weak-key-of-alice-0123456789", key2: "weak-key-of-carol-9876543210"}
	w.pub, w.priv, _ = ed25519.GenerateKey(rand.Reader)
	w.other = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.otherHits.Add(1)
		rw.Write([]byte(`{"keys":[]}`))
	}))
	t.Cleanup(w.other.Close)
	w.srv = httptest.NewUnstartedServer(http.HandlerFunc(w.serve))
	w.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	w.srv.Listener = countingListener{w.srv.Listener, &w.conns}
	var suites []uint16
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		suites = append(suites, cs.ID)
	}
	w.srv.TLS = &tls.Config{MinVersion: tls.VersionTLS10, CipherSuites: suites} //nolint:gosec // deliberately weak
	w.srv.StartTLS()
	t.Cleanup(w.srv.Close)
	h := b64.EncodeToString([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}`))
	c, _ := json.Marshal(map[string]any{"iss": w.srv.URL, "sub": "alice", "aud": "orders", "exp": time.Now().Add(time.Hour).Unix()})
	in := h + "." + b64.EncodeToString(c)
	w.token = in + "." + b64.EncodeToString(ed25519.Sign(w.priv, []byte(in)))
	return w
}

func (w *weakTarget) serve(rw http.ResponseWriter, r *http.Request) {
	w.requests.Add(1)
	rw.Header().Set("Server", "WeakServer/1.0")
	rw.Header().Set("X-Powered-By", "PHP/5.6")
	switch r.URL.Path {
	case "/":
		http.Redirect(rw, r, w.other.URL+"/landing", http.StatusFound)
		return
	case "/.well-known/openid-configuration":
		json.NewEncoder(rw).Encode(map[string]string{"issuer": w.srv.URL, "jwks_uri": w.other.URL + "/jwks"})
		return
	case "/.well-known/jwks.json":
		json.NewEncoder(rw).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: w.pub, KeyID: "k1", Algorithm: "EdDSA", Use: "sig"}}})
		return
	}
	if strings.ContainsRune(r.URL.Path, 0) {
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	// The access check looks at the raw request-target; the router at
	// the decoded, cleaned path: the classic traversal split.
	if strings.HasPrefix(r.RequestURI, "/api/") && w.principal(r) == "" {
		http.Error(rw, "unauthorized", http.StatusUnauthorized)
		return
	}
	if strings.HasPrefix(path.Clean(r.URL.Path), "/api/orders/") {
		io.Copy(io.Discard, r.Body) // any body size
		rw.Header().Set("Content-Type", "application/json")
		rw.Write([]byte(`{"id":"1","owner":"alice"}`)) // to any principal
		return
	}
	http.Error(rw, "not found", http.StatusNotFound)
}

// principal accepts keys in the header or the query, and every JWT
// mistake there is.
func (w *weakTarget) principal(r *http.Request) string {
	for _, k := range []string{r.Header.Get("X-API-Key"), r.URL.Query().Get("api_key"), r.URL.Query().Get("access_token")} {
		if k == w.key1 || k == w.key2 || (k != "" && k == w.token) {
			return "someone"
		}
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	parts := strings.Split(tok, ".")
	var h struct {
		Alg string          `json:"alg"`
		JWK json.RawMessage `json:"jwk"`
		JKU string          `json:"jku"`
	}
	hb, _ := b64.DecodeString(parts[0])
	if len(parts) < 2 || json.Unmarshal(hb, &h) != nil {
		return ""
	}
	sig := []byte{}
	if len(parts) == 3 {
		sig, _ = b64.DecodeString(parts[2])
	}
	in := []byte(parts[0] + "." + parts[1])
	switch {
	case strings.EqualFold(h.Alg, "none"):
		return "anyone"
	case h.Alg == "HS256":
		der, _ := x509.MarshalPKIXPublicKey(w.pub)
		m := hmac.New(sha256.New, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		m.Write(in)
		if hmac.Equal(m.Sum(nil), sig) {
			return "confused"
		}
	case h.Alg == "ES256" && h.JWK != nil:
		var k jose.JSONWebKey
		if k.UnmarshalJSON(h.JWK) == nil && len(sig) == 64 {
			sum := sha256.Sum256(in)
			if pub, ok := k.Key.(*ecdsa.PublicKey); ok && ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
				return "self-signed"
			}
		}
	case h.JKU != "":
		return "trusted the jku" // (never fetched)
	case h.Alg == "EdDSA":
		return "signature not checked"
	}
	return ""
}

func (w *weakTarget) options() secaudit.LiveOptions {
	return secaudit.LiveOptions{URL: w.srv.URL, APIKey: w.key1, OtherKey: w.key2, Token: w.token,
		Objects: []string{"/api/orders/1"}, Destructive: true, Budget: 400, Timeout: 5 * time.Second,
		HeaderBytes: 40 << 10, URIBytes: 20 << 10, BodyBytes: 2 << 20}
}

// Every weakness of the weak target is found by its rule, no request goes
// to another host, and no credential is in the report.
func TestLiveFindsEveryWeakness(t *testing.T) {
	w := newWeakTarget(t)
	fs, err := secaudit.Live(context.Background(), w.options())
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int{}
	for _, f := range fs {
		found[f.ID]++
		t.Logf("%s %s: %s (%s)", f.Severity, f.ID, f.Message, f.Location.URL)
	}
	for _, c := range []struct{ rule, weakness string }{
		{"GH-LIVE-1", "a certificate no system root signs"},
		{"GH-LIVE-2", "TLS 1.0 and 1.1"},
		{"GH-LIVE-3", "RSA key exchange suites"},
		{"GH-LIVE-4", "CBC suites"},
		{"GH-LIVE-5", "no HSTS"},
		{"GH-LIVE-6", "no nosniff, Referrer-Policy, CSP"},
		{"GH-LIVE-7", "Server and X-Powered-By banners"},
		{"GH-LIVE-8", "cacheable errors"},
		{"GH-LIVE-9", "plain-text errors"},
		{"GH-LIVE-10", "alg none"},
		{"GH-LIVE-11", "HS256 keyed with the PEM public key"},
		{"GH-LIVE-12", "a key in the jwk header"},
		{"GH-LIVE-13", "a jku header"},
		{"GH-LIVE-14", "modified claims (exp, aud)"},
		{"GH-LIVE-15", "a stripped signature"},
		{"GH-LIVE-16", "a dot segment past the access check"},
		{"GH-LIVE-17", "a 500 on %00"},
		{"GH-LIVE-18", "CL+TE, the connection kept and the rest read as a request"},
		{"GH-LIVE-20", "huge header block, URI and body"},
		{"GH-LIVE-21", "keys in the query"},
		{"GH-LIVE-22", "another principal's object, GET and HEAD"},
		{"GH-LIVE-23", "another principal's object, PATCH and DELETE"},
	} {
		if found[c.rule] == 0 {
			t.Errorf("%s (%s) not found", c.rule, c.weakness)
		}
	}
	if n := found["GH-LIVE-21"]; n < 2 {
		t.Errorf("GH-LIVE-21: %d findings, want api_key and access_token both", n)
	}
	if n := found["GH-LIVE-20"]; n != 3 {
		t.Errorf("GH-LIVE-20: %d findings, want header, URI and body", n)
	}
	if found["GH-LIVE-24"] != 0 {
		t.Error("the budget ran out")
	}
	if n := w.otherHits.Load(); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
	js, _ := json.Marshal(fs)
	for _, secret := range []string{w.key1, w.key2, w.token, strings.Split(w.token, ".")[2]} {
		if strings.Contains(string(js), secret) {
			t.Errorf("a credential is in the findings: %.12s...", secret)
		}
	}
	for _, f := range fs {
		if !strings.HasPrefix(f.Location.URL, w.srv.URL) {
			t.Errorf("%s: location %q is not on the target", f.ID, f.Location.URL)
		}
	}
}

// The budget caps requests and connections the target sees, and the run
// says which probes it skipped.
func TestLiveBudget(t *testing.T) {
	for _, budget := range []int{1, 7, 25} {
		w := newWeakTarget(t)
		o := w.options()
		o.Budget = budget
		fs, err := secaudit.Live(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if n := w.conns.Load(); n > int64(budget) {
			t.Errorf("budget %d: %d connections", budget, n)
		}
		if n := w.requests.Load(); n > int64(budget) {
			t.Errorf("budget %d: %d requests", budget, n)
		}
		var skipped []finding.Finding
		for _, f := range fs {
			if f.ID == "GH-LIVE-24" {
				skipped = append(skipped, f)
			}
		}
		if len(skipped) != 1 || skipped[0].Severity != finding.Info || !strings.Contains(skipped[0].Message, "oversize") {
			t.Errorf("budget %d: budget findings %+v", budget, skipped)
		}
	}
}

// Every rule is well formed: a unique GH-LIVE id, a title, why, fix, and
// requirement refs for every rule above info.
func TestLiveRules(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range secaudit.LiveRules() {
		if !strings.HasPrefix(r.ID, "GH-LIVE-") || seen[r.ID] || r.Title == "" || r.Why == "" || r.Fix == "" {
			t.Errorf("rule %+v", r)
		}
		if r.Severity > finding.Info && len(r.Refs) == 0 {
			t.Errorf("%s has no refs", r.ID)
		}
		seen[r.ID] = true
	}
}

func TestLiveBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "https://", "https://user:pw@127.0.0.1:1"} {
		if _, err := secaudit.Live(context.Background(), secaudit.LiveOptions{URL: u}); err == nil {
			t.Errorf("%q: no error", u)
		}
	}
}
