package secaudit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/secaudit/finding"
	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/store/sqlstore"
	"go.yaml.in/yaml/v3"
)

// now is the lint's clock in the rule tests: store fixtures give ages in
// days before it.
var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// Every config rule has a failing and a passing case under
// testdata/rules/<ID>/{fail,pass}: gatehouse.yaml, the files it names, an
// optional setup (file modes, generated certificates) and an optional
// store.yaml of keys and clients put into a real SQLite store. The failing
// case must report the rule at a location in a file; the passing case must
// not report it.
func TestConfigRules(t *testing.T) {
	for _, r := range ConfigRules() {
		t.Run(r.ID, func(t *testing.T) {
			for _, c := range []string{"fail", "pass"} {
				dir := filepath.Join("testdata", "rules", r.ID, c)
				if _, err := os.Stat(filepath.Join(dir, "gatehouse.yaml")); err != nil {
					t.Fatalf("no %s case: %v", c, err)
				}
				fs := runCase(t, dir)
				got := slices.IndexFunc(fs, func(f finding.Finding) bool { return f.ID == r.ID })
				switch {
				case c == "fail" && got < 0:
					t.Errorf("%s: rule not reported; findings: %v", dir, ids(fs))
				case c == "fail":
					f := fs[got]
					if f.Severity != r.Severity || f.Message == "" {
						t.Errorf("%s: finding %+v", dir, f)
					}
					if (f.Location.File == "" || f.Location.Line == 0) && !strings.HasPrefix(f.Location.Path, "store.") {
						t.Errorf("%s: finding without a location: %+v", dir, f.Location)
					}
				case got >= 0:
					t.Errorf("%s: rule reported: %s", dir, fs[got].Message)
				}
			}
		})
	}
}

// Every rule case directory belongs to a rule: a renamed rule cannot leave
// its cases behind untested.
func TestRuleCasesHaveRules(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, r := range ConfigRules() {
		known[r.ID] = true
	}
	for _, e := range entries {
		if e.IsDir() && !known[e.Name()] && !strings.HasPrefix(e.Name(), "_") {
			t.Errorf("testdata/rules/%s belongs to no rule", e.Name())
		}
	}
	if len(known) < 40 {
		t.Errorf("%d config rules, fewer than 40", len(known))
	}
}

// Rule ids are unique across the three audits, well formed, and every rule
// says why and how to fix.
func TestRulesAreComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] {
			t.Errorf("%s used twice", r.ID)
		}
		seen[r.ID] = true
		area, n, ok := strings.Cut(strings.TrimPrefix(r.ID, "GH-"), "-")
		if _, err := strconv.Atoi(n); !ok || err != nil || area == "" || !strings.HasPrefix(r.ID, "GH-") {
			t.Errorf("%s: not GH-<area>-<n>", r.ID)
		}
		// Info rules about the audit itself (budget spent, probe skipped) check no requirement.
		if r.Title == "" || r.Why == "" || r.Fix == "" || (len(r.Refs) == 0 && r.Severity > finding.Info) {
			t.Errorf("%s: title, why, fix and refs are all required: %+v", r.ID, r)
		}
	}
}

func ids(fs []finding.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

// runCase copies a case into a temporary directory (with the shared files
// of testdata/rules/_common), applies its setup and audits it.
func runCase(t *testing.T, dir string) []finding.Finding {
	t.Helper()
	tmp := t.TempDir()
	copyCase(t, filepath.Join("testdata", "rules", "_common"), tmp)
	copyCase(t, dir, tmp)
	if b, err := os.ReadFile(filepath.Join(tmp, "setup")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
				setup(t, tmp, f)
			}
		}
	}
	cfg, err := gatehouse.LoadFile(filepath.Join(tmp, "gatehouse.yaml"))
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	in := ConfigInput{Config: cfg, Now: now}
	if b, err := os.ReadFile(filepath.Join(tmp, "store.yaml")); err == nil {
		st := fixtureStore(t, tmp, b)
		in.Keys, in.Clients = st, st
	}
	return Config(context.Background(), in)
}

func copyCase(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.ReplaceAll(string(b), "{{dir}}", to))
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// setup runs one line of a case's setup:
//
//	chmod MODE PATH
//	mkdir MODE PATH
//	touch MODE PATH
//	cert CERT KEY DAYS [rsa1024|sha1]   (a self-signed certificate valid DAYS from now; negative: expired)
func setup(t *testing.T, dir string, f []string) {
	t.Helper()
	p := func(i int) string { return filepath.Join(dir, f[i]) }
	switch f[0] {
	case "chmod", "mkdir", "touch":
		mode, err := strconv.ParseUint(f[1], 8, 32)
		if err != nil {
			t.Fatal(err)
		}
		switch f[0] {
		case "mkdir":
			os.MkdirAll(p(2), 0o700)
		case "touch":
			os.WriteFile(p(2), nil, 0o600)
		}
		if err := os.Chmod(p(2), fs.FileMode(mode)); err != nil {
			t.Fatal(err)
		}
	case "cert":
		days, _ := strconv.Atoi(f[3])
		writeCert(t, p(1), p(2), days, slices.Contains(f, "rsa1024"))
	default:
		t.Fatalf("unknown setup %q", f[0])
	}
}

func writeCert(t *testing.T, certFile, keyFile string, days int, weak bool) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "api.example.test"},
		DNSNames:  []string{"api.example.test"},
		NotBefore: now.Add(-30 * 24 * time.Hour), NotAfter: now.Add(time.Duration(days) * 24 * time.Hour),
	}
	var der []byte
	var keyDER []byte
	var err error
	if weak {
		// crypto/rsa refuses to generate keys under 1024 bits; 1024 is weak.
		k, kerr := rsa.GenerateKey(rand.Reader, 1024)
		if kerr != nil {
			t.Skipf("cannot generate a 1024-bit RSA key here: %v", kerr)
		}
		der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		keyDER = x509.MarshalPKCS1PrivateKey(k)
	} else {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		keyDER, _ = x509.MarshalECPrivateKey(k)
	}
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// fixtureStore puts store.yaml's keys and clients into a new SQLite store.
func fixtureStore(t *testing.T, dir string, src []byte) *sqlstore.Store {
	t.Helper()
	var fx struct {
		Keys []struct {
			ID, Owner, Status string
			Roles             []string
			Created           int  `yaml:"created_days_ago"`
			LastUsed          *int `yaml:"last_used_days_ago"`
			Expires           *int `yaml:"expires_in_days"`
		}
		Clients []struct {
			ID           string
			Public       bool
			Grants       []string
			RedirectURIs []string `yaml:"redirect_uris"`
			Roles        []string
		}
	}
	if err := yaml.Unmarshal(src, &fx); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "fixture.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	days := func(n int) time.Time { return now.Add(time.Duration(n) * 24 * time.Hour) }
	for _, k := range fx.Keys {
		rec := &store.APIKey{ID: k.ID, Hash: []byte("hash-" + k.ID), Hint: "gh_" + k.ID[:2] + "...", Owner: k.Owner, Roles: k.Roles, Status: k.Status, CreatedAt: days(-k.Created)}
		if k.LastUsed != nil {
			rec.LastUsedAt = days(-*k.LastUsed)
		}
		if k.Expires != nil {
			rec.ExpiresAt = days(*k.Expires)
		}
		if err := st.CreateAPIKey(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range fx.Clients {
		rec := &store.OAuthClient{ID: c.ID, Name: "client " + c.ID, Public: c.Public, Grants: c.Grants, RedirectURIs: c.RedirectURIs, Roles: c.Roles, CreatedAt: now, UpdatedAt: now}
		if !c.Public {
			rec.SecretHash = []byte("hash")
		}
		if err := st.CreateClient(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	return st
}
