package jwt

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Wycheproof's JWS vectors (read from the module directory of
// github.com/c2sp/wycheproof) through the same parsing, key import and
// signature check as tokens: every "valid" vector verifies, every
// "invalid" one is refused.
const wycheproof = "github.com/c2sp/wycheproof@v0.0.0-20260902155932-3fa63dd0344a"

// Vectors where the gateway is deliberately stricter than the file, or the
// file contradicts itself. Any other mismatch fails the test.
var wycheproofDeviations = map[int]string{
	346: "PS384 token, key declared PS256: keys are bound to their declared algorithm (JWT-02)",
	350: "PS384 token, key declared PS256: keys are bound to their declared algorithm (JWT-02)",
	347: "key declares alg ES521, which is no JWA algorithm: the key is refused",
	351: "key declares alg ES521, which is no JWA algorithm: the key is refused",
	367: "identical to the valid vector 357, but marked invalid",
	370: "identical to the valid vector 357, but marked invalid",
	372: "a '?' inside the header: not base64url (RFC 7515), refused though marked valid",
	373: "a '?' inside the payload: not base64url (RFC 7515), refused though marked valid",
}

func TestWycheproofJWS(t *testing.T) {
	out, err := exec.Command("go", "mod", "download", "-json", wycheproof).Output()
	if err != nil {
		t.Skipf("wycheproof: cannot download %s (%v); needs the Go module proxy", wycheproof, err)
	}
	var info struct{ Dir string }
	if json.Unmarshal(out, &info) != nil || info.Dir == "" {
		t.Skip("wycheproof: module not available")
	}
	data, err := os.ReadFile(filepath.Join(info.Dir, "testvectors_v1", "json_web_signature_test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		TestGroups []struct {
			Comment string          `json:"comment"`
			Public  json.RawMessage `json:"public"`
			Private json.RawMessage `json:"private"`
			Tests   []struct {
				ID      int      `json:"tcId"`
				Comment string   `json:"comment"`
				JWS     string   `json:"jws"`
				Result  string   `json:"result"`
				Flags   []string `json:"flags"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	total, passed := 0, 0
	for _, g := range file.TestGroups {
		var k *key
		var keyErr error
		var oct struct{ Kty, K, Alg, Kid string }
		json.Unmarshal(g.Private, &oct)
		if oct.Kty == "oct" {
			secret, _ := base64.RawURLEncoding.DecodeString(oct.K)
			k, keyErr = bindKey(oct.Kid, oct.Alg, secret)
		} else {
			k, keyErr = importJWK(g.Public)
		}
		for _, tc := range g.Tests {
			total++
			ok := false
			if keyErr == nil {
				if c, err := parseCompact(tc.JWS); err == nil && c.h.Alg == k.alg {
					ok = verifySig(k, c.h.Alg, c.input, c.sig)
				}
			}
			want := tc.Result == "valid"
			if tc.Result == "acceptable" {
				want = ok
			}
			if ok == want {
				passed++
				continue
			}
			if why, known := wycheproofDeviations[tc.ID]; known {
				t.Logf("#%d deviates on purpose: %s", tc.ID, why)
				continue
			}
			t.Errorf("%s #%d %s (%v): verified=%v, want %s (key error %v)", g.Comment, tc.ID, tc.Comment, tc.Flags, ok, tc.Result, keyErr)
		}
	}
	t.Logf("wycheproof JWS: %d of %d vectors as expected, %d known deviations", passed, total, len(wycheproofDeviations))
	if total < 300 {
		t.Fatalf("only %d vectors read", total)
	}
}
