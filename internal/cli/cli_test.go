package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	good := writeFile(t, "good.yaml", "routes:\n  - name: a\n    match: {path: /a}\n    upstream: {url: \"http://127.0.0.1:1\"}\n")
	code, out, _ := run(t, "validate", "--config", good)
	if code != 0 || !strings.Contains(out, "ok (1 routes)") {
		t.Errorf("good config: code %d out %q", code, out)
	}
	bad := writeFile(t, "bad.yaml", "listen:\n  adress: x\nroutes:\n  - name: a\n    match: {path: /a}\n    upstream: {url: \"ftp://x\"}\n")
	code, _, errs := run(t, "validate", "--config", bad)
	if code != 1 {
		t.Errorf("bad config exit %d, want 1", code)
	}
	for _, want := range []string{"2 error(s)", "listen.adress: line 2: unknown field", "routes[0].upstream.url: line 6: scheme must be http or https"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if code, _, errs := run(t, "validate", "--config", filepath.Join(t.TempDir(), "missing.yaml")); code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("missing file: %d %q", code, errs)
	}
	if code, _, _ := run(t, "validate"); code != 2 {
		t.Errorf("no --config: exit %d, want 2", code)
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	bad := writeFile(t, "bad.yaml", "routes: {}\n")
	if code, _, errs := run(t, "serve", "--config", bad); code != 1 || !strings.Contains(errs, "expected a list") {
		t.Errorf("serve with a bad config: %d %q", code, errs)
	}
}

func TestVersionAndSchema(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 || !strings.Contains(out, "gatehouse dev") || !strings.Contains(out, "go1.") {
		t.Errorf("version: %d %q", code, out)
	}
	code, out, _ = run(t, "schema")
	if code != 0 || !strings.Contains(out, `"$schema"`) {
		t.Errorf("schema: %d", code)
	}
	if code, _, errs := run(t, "nonsense"); code != 1 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: %d %q", code, errs)
	}
}

func TestKeysLifecycle(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte(strings.Repeat("x", 40)), 0o600)
	cfg := writeFile(t, "gh.yaml", fmt.Sprintf("data_dir: %q\napi_keys: {secret: \"${file:%s}\"}\n", dir, secret))
	code, out, errs := run(t, "keys", "create", "--config", cfg, "--admin", "--json")
	if code != 0 {
		t.Fatalf("create --admin: %d %s", code, errs)
	}
	var created struct {
		ID, Key, Owner string
		Roles          []string
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || !strings.HasPrefix(created.Key, "gthk_") || created.Roles[0] != "gatehouse:admin" {
		t.Fatalf("created %q: %v", out, err)
	}
	code, out, _ = run(t, "keys", "create", "--config", cfg, "--owner", "alice", "--tenant", "acme", "--scope", "orders:read")
	if code != 0 || !strings.Contains(out, "shown only now") {
		t.Fatalf("create: %d %s", code, out)
	}
	code, out, _ = run(t, "keys", "list", "--config", cfg, "--tenant", "acme")
	if code != 0 || !strings.Contains(out, "alice") || strings.Contains(out, "admin ") {
		t.Errorf("list --tenant: %s", out)
	}
	if strings.Contains(out, "gthk_") && !strings.Contains(out, "...") {
		t.Error("list prints key material")
	}
	code, out, _ = run(t, "keys", "rotate", "--config", cfg, created.ID, "--grace", "1h")
	if code != 0 || !strings.Contains(out, "keeps working until") {
		t.Fatalf("rotate: %d %s", code, out)
	}
	code, out, _ = run(t, "keys", "show", "--config", cfg, created.ID, "--json")
	if code != 0 || !strings.Contains(out, `"status": "rotated"`) {
		t.Errorf("show after rotate: %s", out)
	}
	if code, _, _ := run(t, "keys", "revoke", "--config", cfg, created.ID); code != 0 {
		t.Errorf("revoke: %d", code)
	}
	if code, _, errs := run(t, "keys", "show", "--config", cfg, "nosuchkeyid0"); code != 1 || !strings.Contains(errs, "no such key") {
		t.Errorf("show unknown: %d %s", code, errs)
	}
	code, out, _ = run(t, "migrate", "status", "--config", cfg)
	if code != 0 || !strings.Contains(out, "applied") {
		t.Errorf("migrate status: %d %s", code, out)
	}
	noSecret := writeFile(t, "nosecret.yaml", fmt.Sprintf("data_dir: %q\n", dir))
	if code, _, errs := run(t, "keys", "list", "--config", noSecret); code != 1 || !strings.Contains(errs, "api_keys.secret") {
		t.Errorf("without a secret: %d %s", code, errs)
	}
}

func TestPolicyCommands(t *testing.T) {
	code, out, errs := run(t, "policy", "test", "../../examples/policies/orders_test.yaml")
	if code != 0 || !strings.Contains(out, "7 passed, 0 failed") {
		t.Fatalf("policy test: %d\n%s%s", code, out, errs)
	}
	if code, out, _ := run(t, "policy", "validate", "../../examples/policies/orders.cedar"); code != 0 || !strings.Contains(out, "4 policies") {
		t.Errorf("validate: %d %s", code, out)
	}
	if code, out, errs := run(t, "policy", "validate", "--schema", "../../examples/policies/gatehouse.cedarschema", "../../examples/policies/orders.cedar"); code != 0 {
		t.Errorf("validate with the schema: %d %s %s", code, out, errs)
	}
	typo := writeFile(t, "typo.cedar", `permit (principal, action == Gatehouse::Action::"orders.read", resource is Gatehouse::Order) when { principal.tenantt == resource.tenant };`)
	if code, _, errs := run(t, "policy", "validate", "--schema", "../../examples/policies/gatehouse.cedarschema", typo); code != 1 || !strings.Contains(errs, "tenantt") {
		t.Errorf("a misspelt attribute passes the type check: %d %s", code, errs)
	}
	bad := writeFile(t, "bad.cedar", "permit (principal, action, resource) when { principal. };")
	if code, _, errs := run(t, "policy", "validate", bad); code != 1 || !strings.Contains(errs, "bad.cedar") {
		t.Errorf("validate a broken file: %d %s", code, errs)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.cedar"), []byte(`permit (principal, action, resource);`), 0o600)
	os.WriteFile(filepath.Join(dir, "t.yaml"), []byte("policies: [p.cedar]\ncases:\n  - {name: wrong, action: a, expect: deny}\n"), 0o600)
	code, out, _ = run(t, "policy", "test", filepath.Join(dir, "t.yaml"))
	if code != 1 || !strings.Contains(out, "FAIL wrong: expected deny, got allow") || !strings.Contains(out, "0 passed, 1 failed") {
		t.Errorf("a failing case: %d %s", code, out)
	}
}

func TestTokensRevoke(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, "gh.yaml", fmt.Sprintf("data_dir: %q\n", dir))
	if code, _, errs := run(t, "tokens", "revoke", "--config", cfg, "--issuer", "https://idp/", "--jti", "leaked", "--reason", "in a log"); code != 0 {
		t.Fatalf("revoke: %d %s", code, errs)
	}
	if code, _, _ := run(t, "tokens", "revoke", "--config", cfg, "--issuer", "https://idp/", "--jti", "a", "--subject", "b"); code == 0 {
		t.Fatal("jti and subject together accepted")
	}
	code, out, _ := run(t, "tokens", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "leaked") || !strings.Contains(out, "in a log") {
		t.Fatalf("list: %d %s", code, out)
	}
}

func TestClientsAndSigningKeys(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "oauth-secret")
	os.WriteFile(secret, []byte(strings.Repeat("o", 32)), 0o600)
	cfg := writeFile(t, "gh.yaml", fmt.Sprintf("data_dir: %q\noauth: {issuer: \"https://gw.example\", signing_key_secret: \"${file:%s}\"}\n", dir, secret))
	code, out, errs := run(t, "clients", "create", "--config", cfg, "--id", "reports", "--scope", "orders:read", "--audience", "orders-api", "--json")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errs)
	}
	var created struct {
		ID     string `json:"id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID != "reports" || !strings.HasPrefix(created.Secret, "gthc_") {
		t.Fatalf("created %q: %v", out, err)
	}
	if code, _, _ := run(t, "clients", "create", "--config", cfg, "--id", "x"); code == 0 {
		t.Error("a client_credentials client without an audience was created")
	}
	code, out, _ = run(t, "clients", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "reports") || strings.Contains(out, created.Secret) {
		t.Errorf("list: %s", out)
	}
	code, out, _ = run(t, "clients", "rotate-secret", "reports", "--config", cfg)
	if code != 0 || !strings.Contains(out, "gthc_") || strings.Contains(out, created.Secret) {
		t.Errorf("rotate-secret: %s", out)
	}
	if code, out, _ := run(t, "clients", "disable", "reports", "--config", cfg, "--json"); code != 0 || !strings.Contains(out, `"disabled": true`) {
		t.Errorf("disable: %s", out)
	}
	if code, _, _ := run(t, "signing-keys", "rotate", "--config", cfg); code != 0 {
		t.Fatal("rotate")
	}
	if code, _, _ := run(t, "signing-keys", "rotate", "--config", cfg); code != 0 {
		t.Fatal("rotate twice")
	}
	code, out, _ = run(t, "signing-keys", "list", "--config", cfg)
	if code != 0 || strings.Count(out, "signing") != 1 || strings.Count(out, "retired") != 1 {
		t.Errorf("list: %s", out)
	}
	if code, out, _ := run(t, "clients", "delete", "reports", "--config", cfg); code != 0 || !strings.Contains(out, "deleted") {
		t.Errorf("delete: %s", out)
	}
}

func TestUsers(t *testing.T) {
	cfg := writeFile(t, "gh.yaml", fmt.Sprintf("data_dir: %q\n", t.TempDir()))
	withInput := func(in string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		root := newRoot(context.Background(), &out, &errb)
		root.SetIn(strings.NewReader(in))
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			fmt.Fprintln(&errb, err)
			return 1, out.String(), errb.String()
		}
		return 0, out.String(), errb.String()
	}
	if code, out, errs := withInput("a long enough password\n", "users", "create", "--config", cfg, "--username", "alice", "--tenant", "acme"); code != 0 || !strings.Contains(out, "created user alice") {
		t.Fatalf("create: %d %s %s", code, out, errs)
	}
	if code, _, errs := withInput("short\n", "users", "create", "--config", cfg, "--username", "bob"); code == 0 || !strings.Contains(errs, "12 to 256") {
		t.Fatalf("short password accepted: %s", errs)
	}
	if code, out, _ := withInput("", "users", "disable", "alice", "--config", cfg); code != 0 || !strings.Contains(out, "disabled=true") {
		t.Fatalf("disable: %s", out)
	}
	if code, out, _ := withInput("another long password\n", "users", "set-password", "alice", "--config", cfg); code != 0 || !strings.Contains(out, "replaced") {
		t.Fatalf("set-password: %s", out)
	}
	code, out, _ := withInput("", "users", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "alice") || strings.Contains(out, "argon2") || strings.Contains(out, "password") {
		t.Fatalf("list: %s", out)
	}
}
