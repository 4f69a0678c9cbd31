package gatehouse

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

const minimal = `
routes:
  - name: orders
    match: {methods: [GET], path: /orders}
    upstream: {url: "http://127.0.0.1:9000"}
`

func mustParse(t testing.TB, src string) *Config {
	t.Helper()
	c, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func parseErrors(t *testing.T, src string) []FieldError {
	t.Helper()
	_, err := Parse("test.yaml", []byte(src))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Parse error = %v, want *ConfigError", err)
	}
	return ce.Errors
}

func TestConfigDefaults(t *testing.T) {
	c := mustParse(t, minimal)
	if c.Listen.Address != ":8443" || c.Listen.TLS.Profile != "intermediate" || c.Admin.Address != "127.0.0.1:9443" {
		t.Errorf("listener defaults: %+v %+v", c.Listen, c.Admin)
	}
	if c.Limits.MaxBodyBytes != 1<<20 || c.Limits.MaxURIBytes != 8192 || c.Server.MaxHeaderBytes != 32<<10 {
		t.Errorf("limit defaults: %+v %+v", c.Limits, c.Server)
	}
	if c.Server.ReadHeaderTimeout.D() == 0 || c.Server.ShutdownTimeout.D() == 0 {
		t.Errorf("timeouts not defaulted: %+v", c.Server)
	}
	u := c.Routes[0].Upstream
	if len(u.URLs) != 1 || u.URLs[0] != "http://127.0.0.1:9000" || u.ResponseHeaderTimeout.D() == 0 || u.DialTimeout.D() == 0 {
		t.Errorf("upstream defaults: %+v", u)
	}
	if !c.Log.AccessLog() || c.Log.Format != "json" {
		t.Errorf("log defaults: %+v", c.Log)
	}
}

// Bad input: every case names the field path and, where the field is in
// the file, the line (issue: "routes[1].upstream.url: line 14: ...").
func TestConfigErrors(t *testing.T) {
	certDir := t.TempDir()
	tests := []struct {
		name     string
		src      string
		wantPath string
		wantLine int
		wantMsg  string
	}{
		{"invalid YAML", "log: {}\nroutes:\n  - x\n bad: 2\n", "", 3, "invalid YAML"},
		{"empty file", "", "", 0, "empty"},
		{"unknown top-level field", "listen: {}\nroutez: []\n", "routez", 2, `unknown field "routez"`},
		{"unknown nested field", minimal + "    extra: 1\n", "routes[0].extra", 6, "unknown field"},
		{"typo suggests field", "listen:\n  adress: x\n", "listen.adress", 2, `did you mean "address"`},
		{"wrong type list", "routes: {}\n", "routes", 1, "expected a list"},
		{"wrong type bool", minimal + "    browser: yes\n", "routes[0].browser", 6, "expected true or false"},
		{"wrong type string", "data_dir: 12\n", "data_dir", 1, "expected a string"},
		{"bad duration", "server:\n  read_timeout: 5 seconds\n", "server.read_timeout", 2, "invalid duration"},
		{"bad size", "limits:\n  max_body_bytes: lots\n", "limits.max_body_bytes", 2, "invalid size"},
		{"duplicate key", "log:\n  level: info\n  level: debug\n", "log.level", 3, "set twice"},
		{"second document", minimal + "---\nroutes: []\n", "", 6, "one YAML document"},
		{"alias refused", "a: &x {}\n", "a", 1, "unknown field"},
		{"bad profile", "listen:\n  tls:\n    profile: old\n", "listen.tls.profile", 3, "must be one of"},
		{"missing cert file", "listen:\n  tls:\n    cert_file: " + filepath.Join(certDir, "nope.pem") + "\n    key_file: " + filepath.Join(certDir, "nope-key.pem") + "\n", "listen.tls.cert_file", 3, "cannot read"},
		{"cert without key", "listen:\n  tls:\n    cert_file: /x.pem\n", "listen.tls", 2, "go together"},
		{"inline secret refused", "listen:\n  tls:\n    acme:\n      domains: [example.com]\n      agree_tos: true\n      eab_key_id: k\n      eab_mac_key: hunter2\n", "listen.tls.acme.eab_mac_key", 7, "never written inline"},
		{"admin shares public", "admin: {address: \":8443\"}\n", "admin.address", 1, "must not share"},
		{"plaintext admin off loopback", "admin: {address: \"0.0.0.0:9443\", plaintext: true}\n", "admin.plaintext", 1, "loopback"},
		{"bad trusted proxy", "trusted_proxies: [10.0.0.0/99]\n", "trusted_proxies[0]", 1, "invalid CIDR"},
		{"route without name", "routes:\n  - match: {path: /a}\n    upstream: {url: \"http://x\"}\n", "routes[0].name", 0, "is required"},
		{"duplicate route name", minimal + "  - name: orders\n    match: {path: /b}\n    upstream: {url: \"http://x\"}\n", "routes[1].name", 6, "duplicate route name"},
		{"bad upstream scheme", "routes:\n  - name: a\n    match: {path: /a}\n    upstream: {url: \"ftp://x\"}\n", "routes[0].upstream.url", 0, "scheme must be http or https"},
		{"upstream credentials", "routes:\n  - name: a\n    match: {path: /a}\n    upstream: {urls: [\"http://u:p@x\"]}\n", "routes[0].upstream.urls[0]", 4, "credentials"},
		{"no upstream", "routes:\n  - name: a\n    match: {path: /a}\n", "routes[0].upstream.urls", 0, "at least one"},
		{"path not normal", "routes:\n  - name: a\n    match: {path: /a/../b}\n    upstream: {url: \"http://x\"}\n", "routes[0].match.path", 3, "normal form"},
		{"TRACE route", "routes:\n  - name: a\n    match: {path: /a, methods: [TRACE]}\n    upstream: {url: \"http://x\"}\n", "routes[0].match.methods[0]", 3, "never proxied"},
		{"lower-case method", "routes:\n  - name: a\n    match: {path: /a, methods: [get]}\n    upstream: {url: \"http://x\"}\n", "routes[0].match.methods[0]", 3, "upper-case"},
		{"conflicting routes", "routes:\n  - name: a\n    match: {path: \"/x/{id}\"}\n    upstream: {url: \"http://x\"}\n  - name: b\n    match: {path: \"/{name}/y\"}\n    upstream: {url: \"http://x\"}\n", "routes[1].match", 6, "conflicts"},
		{"duplicate pattern", "routes:\n  - name: a\n    match: {path: /x, methods: [GET]}\n    upstream: {url: \"http://x\"}\n  - name: b\n    match: {path: /x, methods: [GET]}\n    upstream: {url: \"http://x\"}\n", "routes[1].match", 6, "routes[0]"},
		{"invalid wildcard", "routes:\n  - name: a\n    match: {path: \"/x/{a-b}\"}\n    upstream: {url: \"http://x\"}\n", "routes[0].match", 3, "invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := parseErrors(t, tc.src)
			for _, e := range errs {
				if e.Path == tc.wantPath && strings.Contains(e.Msg, tc.wantMsg) {
					if tc.wantLine != 0 && e.Line != tc.wantLine {
						t.Errorf("line = %d, want %d (%s)", e.Line, tc.wantLine, e)
					}
					return
				}
			}
			t.Errorf("no error at %q containing %q; got:\n%v", tc.wantPath, tc.wantMsg, errs)
		})
	}
}

func TestConfigReportsAllErrorsAtOnce(t *testing.T) {
	errs := parseErrors(t, `
listen:
  tls:
    profile: ancient
log:
  level: loud
routes:
  - name: a
    match: {path: nope}
    upstream: {url: "ftp://x"}
`)
	var got []string
	for _, e := range errs {
		got = append(got, e.Path)
	}
	for _, want := range []string{"listen.tls.profile", "log.level", "routes[0].match.path", "routes[0].upstream.url"} {
		if !strings.Contains(strings.Join(got, " "), want) {
			t.Errorf("missing error for %s; got %v", want, got)
		}
	}
	msg := (&ConfigError{File: "f.yaml", Errors: errs}).Error()
	if !strings.Contains(msg, "routes[0].upstream.url: line 10: scheme must be") {
		t.Errorf("error text lacks path and line:\n%s", msg)
	}
}

// CFG-02: secrets come from files or the environment and are never printed.
func TestSecretReferences(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "mac")
	if err := os.WriteFile(f, []byte("from-file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GH_TEST_MAC", "from-env-secret")
	for _, tc := range []struct{ ref, want string }{
		{"${file:" + f + "}", "from-file-secret"},
		{"${env:GH_TEST_MAC}", "from-env-secret"},
	} {
		c := mustParse(t, "listen:\n  tls:\n    acme:\n      domains: [example.com]\n      agree_tos: true\n      eab_key_id: k\n      eab_mac_key: \""+tc.ref+"\"\n")
		s := c.Listen.TLS.ACME.EABMACKey
		if s.Value() != tc.want {
			t.Errorf("%s resolved to %q, want %q", tc.ref, s.Value(), tc.want)
		}
		if strings.Contains(s.String(), tc.want) {
			t.Errorf("String() leaks the secret: %s", s)
		}
	}
	errs := parseErrors(t, "listen:\n  tls:\n    acme:\n      domains: [example.com]\n      agree_tos: true\n      eab_key_id: k\n      eab_mac_key: \"${env:GH_TEST_UNSET_VAR}\"\n")
	if !strings.Contains(errs[0].Msg, "GH_TEST_UNSET_VAR is not set") {
		t.Errorf("unset env: %v", errs)
	}
}

// The published JSON Schema is generated from the Go types; the checked-in
// copy must match (refresh with go test -run TestConfigSchema -update).
func TestConfigSchemaGolden(t *testing.T) {
	got := ConfigSchema()
	path := filepath.Join("docs", "config.schema.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test -run TestConfigSchemaGolden -update", path)
	}
	for _, field := range []string{`"routes"`, `"upstream"`, `"strip_prefix"`, `"additionalProperties": false`, `"intermediate"`} {
		if !bytes.Contains(got, []byte(field)) {
			t.Errorf("schema lacks %s", field)
		}
	}
}

func TestExampleConfigsValidate(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("examples", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no example configs")
	}
	for _, f := range files {
		if _, err := LoadFile(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// FuzzParseConfig: arbitrary bytes never panic; they load or give a ConfigError.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("listen: {address: ':1', tls: {profile: modern}}\nroutes: [{name: a, match: {path: '/{x...}'}, upstream: {url: 'http://a'}}]"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("routes:\n  - name: a\n    match: {path: \"/x/{id}\"}\n    upstream: {url: \"http://x\"}\n  - name: b\n    match: {path: \"/{n}/y\"}\n    upstream: {url: \"http://x\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Errors) == 0 {
				t.Fatalf("error is not a non-empty ConfigError: %v", err)
			}
			return
		}
		if _, err := New(c, Deps{AccessLog: io.Discard}); err != nil {
			t.Fatalf("a config that validates must compile: %v", err)
		}
	})
}

// AZ-06: fetch URL placeholders stand only in the path.
func TestAZ06FetchPlaceholdersInPathOnly(t *testing.T) {
	for raw, ok := range map[string]bool{
		"http://orders:8080/orders/{id}":       true,
		"https://orders/t/{tenant}/o/{id}?x=1": true,
		"http://{tenant}.orders/o/{id}":        false,
		"http://orders:{port}/o":               false,
		"http://{user}@orders/o":               false,
		"http://orders/o?id={id}":              false,
		"http://orders/o#{id}":                 false,
		"http://orders{id}/o":                  false,
	} {
		if got := placeholdersInPathOnly(raw); got != ok {
			t.Errorf("%s: %v, want %v", raw, got, ok)
		}
	}
}

// An address that is a URL with user info is refused without echoing it:
// the password in it never reaches an error, a log line or an audit.
func TestAddressErrorDoesNotEchoCredentials(t *testing.T) {
	errs := parseErrors(t, "rate_limit: {backend: redis, redis: {addrs: [\"redis://:Sup3rS3cretPw@redis.internal:6379\"]}}\nroutes: []\n")
	if len(errs) == 0 {
		t.Fatal("a URL accepted as a Redis address")
	}
	for _, e := range errs {
		if strings.Contains(e.String(), "Sup3rS3cretPw") {
			t.Errorf("the password is echoed: %s", e)
		}
	}
}
