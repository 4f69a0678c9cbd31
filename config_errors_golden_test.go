package gatehouse

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// configErrorCases are broken configs, each loaded from a file with
// LoadFile; the whole error text (file, count, field paths, lines and
// messages) is pinned in testdata/config_errors/<name>.golden. In src,
// {{dir}} stands for the directory the file is written to.
var configErrorCases = []struct{ name, src string }{
	// The YAML document itself.
	{"invalid-yaml", "log: {}\nroutes:\n  - x\n bad: 2\n"},
	{"empty-file", ""},
	{"second-document", minimal + "---\nroutes: []\n"},
	{"alias", "listen: &l {address: \":8443\"}\nhttp: *l\n"},
	{"merge-key", "listen:\n  <<: {address: \":1\"}\n"},
	// Strict decoding: names, types and scalar forms.
	{"unknown-field-suggestion", "listen:\n  adress: \":8443\"\n"},
	{"unknown-field-known-list", minimal + "    retries: 3\n"},
	{"field-set-twice", "log:\n  level: info\n  level: debug\n"},
	{"map-key-set-twice", "action_groups:\n  read: [a]\n  read: [b]\n"},
	{"wrong-type-list", "routes: {}\n"},
	{"wrong-type-mapping", "listen: [\":8443\"]\n"},
	{"wrong-type-string", "data_dir: 12\n"},
	{"wrong-type-bool", minimal + "    browser: yes\n"},
	{"wrong-type-integer", "limits:\n  max_uri_bytes: 8k\n"},
	{"integer-out-of-range", "limits:\n  max_uri_bytes: 99999999999\n"},
	{"bad-duration", "server:\n  read_timeout: 5 seconds\n"},
	{"negative-duration", "server:\n  idle_timeout: -1s\n"},
	{"bad-size", "limits:\n  max_body_bytes: lots\n"},
	{"inline-secret", "api_keys:\n  secret: hunter2\n"},
	{"secret-env-unset", "api_keys:\n  secret: ${env:GATEHOUSE_GOLDEN_UNSET}\n"},
	{"secret-file-missing", "api_keys:\n  secret: ${file:{{dir}}/no-such-secret}\n"},
	// Validation of values that decoded.
	{"listeners", "listen: {address: \"8443\"}\nadmin: {address: \"0.0.0.0:9443\", plaintext: true}\nhttp: {address: \"0.0.0.0:9443\"}\n"},
	{"admin-shares-public", "admin: {address: \":8443\"}\n"},
	{"tls-profile-and-files", "listen:\n  tls:\n    profile: old\n    cert_file: {{dir}}/cert.pem\n    key_file: {{dir}}/key.pem\n"},
	{"trusted-proxies-bad-cidr", "trusted_proxies: [10.0.0.0/99, 192.168.1.300, \"::1/129\", 10.0.0.0/8]\n"},
	{"request-headers-remove", "request_headers:\n  remove: [\"X Bad\", X-Ok]\n"},
	{"duplicate-route-name", minimal + "  - name: orders\n    match: {path: /b}\n    upstream: {url: \"http://127.0.0.1:9001\"}\n"},
	{"route-name-invalid", "routes:\n  - name: \"orders api\"\n    match: {path: /a}\n    upstream: {url: \"http://x\"}\n"},
	{"missing-upstream", "routes:\n  - name: a\n    match: {path: /a}\n"},
	{"upstream-urls", "routes:\n  - name: a\n    match: {path: /a}\n    upstream:\n      urls: [\"ftp://x\", \"http://u:p@x\", \"http://x/?q=1\", \"http://\"]\n      strip_prefix: a/\n"},
	{"match-methods-and-path", "routes:\n  - name: a\n    match: {path: \"/a/../b\", methods: [get, TRACE, GET, GET]}\n    upstream: {url: \"http://x\"}\n"},
	{"route-path-conflict", "routes:\n  - name: a\n    match: {path: \"/x/{id}\"}\n    upstream: {url: \"http://x\"}\n  - name: b\n    match: {path: \"/{name}/y\"}\n    upstream: {url: \"http://x\"}\n"},
	{"route-duplicate-pattern", "routes:\n  - name: a\n    match: {path: /x, methods: [GET]}\n    upstream: {url: \"http://x\"}\n  - name: b\n    match: {path: /x, methods: [GET]}\n    upstream: {url: \"http://x\"}\n"},
	{"jwt-issuer-without-https", "jwt:\n  issuers:\n    - issuer: https://idp.example.com\n      jwks_url: http://idp.example.com/jwks.json\n    - issuer: https://other.example.com\n      discovery_url: ftp://other.example.com/.well-known/openid-configuration\n      algorithms: [HS256]\n      leeway: 5m\n"},
	{"jwt-issuer-keys", "jwt:\n  issuers:\n    - issuer: https://idp.example.com\n    - issuer: https://idp.example.com\n      jwks_url: https://idp.example.com/jwks.json\n      discovery_url: https://idp.example.com/.well-known/openid-configuration\n"},
	{"route-jwt", "jwt:\n  issuers:\n    - issuer: https://idp.example.com\n      jwks_url: https://idp.example.com/jwks.json\nroutes:\n  - name: a\n    match: {path: /a}\n    upstream: {url: \"http://x\"}\n    auth:\n      jwt: {issuers: [https://evil.example.com]}\n"},
	{"oauth-issuer-without-https", "oauth:\n  issuer: http://api.example.com\n  algorithm: HS256\n  access_token_ttl: 2h\n"},
	{"rate-limit-key-part", "routes:\n  - name: a\n    match: {path: /a}\n    upstream: {url: \"http://x\"}\n    rate_limit:\n      policies:\n        - {name: per-ip, limit: 10, window: 1m, key: [ip, cookie]}\n        - {name: per-ip, limit: 0, window: 1m, key: [subject], stage: pre_auth}\n      concurrency: {limit: 5, key: [\"header:\"]}\n"},
	{"rate-limit-backend", "rate_limit:\n  backend: redis\n  on_error: maybe\n  instances: 0\n"},
	{"validate-mode-unknown", "routes:\n  - name: a\n    match: {path: /a}\n    upstream: {url: \"http://x\"}\n    validate: {openapi: apispec/testdata/orders-3.1.yaml, mode: strict, responses: always, max_depth: 0}\n"},
	{"authorize-without-policies", "routes:\n  - name: a\n    match: {path: \"/orders/{id}\"}\n    upstream: {url: \"http://x\"}\n    authorize:\n      resource: {type: \"Gatehouse::Order\", id: \"{order}\", fetch: {url: \"http://{id}.orders/o\"}}\n"},
	{"api-key-route-without-secret", "routes:\n  - name: a\n    match: {path: /a}\n    upstream: {url: \"http://x\"}\n    auth:\n      api_key: {headers: [cookie]}\n"},
	{"forward-auth-headers", "forward_auth:\n  proxy: headers\n  headers: {method: X_Method}\n"},
	// Every error at once, decode and validation together.
	{"all-at-once", "listen:\n  tls:\n    profile: ancient\nlog:\n  level: loud\n  colour: true\nserver:\n  read_timeout: soon\nroutes:\n  - name: a\n    match: {path: nope}\n    upstream: {url: \"ftp://x\"}\n"},
}

// registeredAt is the source position net/http puts in a pattern conflict
// ("registered at /path/to/route.go:45"): it names this machine's checkout.
var registeredAt = regexp.MustCompile(`registered at [^)\s]+:[0-9]+`)

// normalizeConfigError removes what depends on the machine: the temporary
// directory the file was written to and source positions.
func normalizeConfigError(msg, dir string) string {
	dirs := []string{dir}
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		dirs = append(dirs, real)
	}
	for _, d := range dirs {
		msg = strings.ReplaceAll(msg, d, "$DIR")
	}
	return registeredAt.ReplaceAllString(msg, "registered at $$SOURCE")
}

// The error text of LoadFile for each broken config, byte for byte; refresh
// with go test -run TestConfigErrorsGolden -update.
func TestConfigErrorsGolden(t *testing.T) {
	if len(configErrorCases) < 15 {
		t.Fatalf("only %d cases", len(configErrorCases))
	}
	seen := map[string]bool{}
	for _, tc := range configErrorCases {
		if seen[tc.name] {
			t.Fatalf("case %s listed twice", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GATEHOUSE_GOLDEN_UNSET", "")
			os.Unsetenv("GATEHOUSE_GOLDEN_UNSET")
			dir := t.TempDir()
			file := filepath.Join(dir, tc.name+".yaml")
			if err := os.WriteFile(file, []byte(strings.ReplaceAll(tc.src, "{{dir}}", dir)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadFile(file)
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Errors) == 0 {
				t.Fatalf("LoadFile = %v, want a *ConfigError", err)
			}
			got := normalizeConfigError(err.Error(), dir) + "\n"
			if strings.Contains(got, os.TempDir()) || strings.Contains(got, dir) {
				t.Fatalf("error text names a machine path:\n%s", got)
			}
			path := filepath.Join("testdata", "config_errors", tc.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestConfigErrorsGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs (refresh with -update if the change is meant):\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// No golden file outlives its case.
func TestConfigErrorsGoldenNoStrayFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "config_errors", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".golden")
		if !slices.ContainsFunc(configErrorCases, func(c struct{ name, src string }) bool { return c.name == name }) {
			t.Errorf("%s has no case in configErrorCases: delete it", f)
		}
	}
}
