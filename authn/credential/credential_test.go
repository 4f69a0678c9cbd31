package credential

import (
	"net/http"
	"strings"
	"testing"
)

func TestPresented(t *testing.T) {
	tests := []struct {
		name        string
		h           http.Header
		auth, key   bool
		want, wantH string
		err         bool
	}{
		{"bearer", http.Header{"Authorization": {"Bearer abc"}}, true, true, "abc", Authorization, false},
		{"bearer case", http.Header{"Authorization": {"bEaReR  abc"}}, true, true, "abc", Authorization, false},
		{"basic ignored", http.Header{"Authorization": {"Basic abc"}}, true, true, "", "", false},
		{"key", http.Header{"X-Api-Key": {"k1"}}, true, true, "k1", XAPIKey, false},
		{"key not read", http.Header{"X-Api-Key": {"k1"}}, true, false, "", "", false},
		{"two auth", http.Header{"Authorization": {"Bearer a", "Bearer b"}}, true, true, "", "", true},
		{"two keys", http.Header{"X-Api-Key": {"a", "b"}}, false, true, "", "", true},
		{"disagree", http.Header{"Authorization": {"Bearer a"}, "X-Api-Key": {"b"}}, false, true, "", "", true},
		{"agree", http.Header{"Authorization": {"Bearer a"}, "X-Api-Key": {"a"}}, false, true, "a", XAPIKey, false},
		{"tab after Bearer", http.Header{"Authorization": {"Bearer\ta"}, "X-Api-Key": {"b"}}, false, true, "", "", true},
		{"basic beside a key", http.Header{"Authorization": {"Basic YTpi"}, "X-Api-Key": {"b"}}, false, true, "", "", true},
		{"basic alone", http.Header{"Authorization": {"Basic YTpi"}}, false, true, "", "", false},
		{"nbsp kept", http.Header{"X-Api-Key": {"a\u00a0"}}, false, true, "a\u00a0", XAPIKey, false},
	}
	for _, tc := range tests {
		v, h, err := Presented(tc.h, tc.auth, tc.key)
		if v != tc.want || h != tc.wantH || (err != nil) != tc.err {
			t.Errorf("%s: %q %q %v", tc.name, v, h, err)
		}
	}
}

func TestInQuery(t *testing.T) {
	for q, want := range map[string]bool{
		"": false, "page=2&sort=id": false, "q=gthk_abc": true, "q=%67thk_abc": true, "q=%2567thk_abc": true,
		"q=%252567thk_abc": true, "Access_Token=x": true, "%61ccess_token=x": true, "a=1;api-key=2": true,
		"q=GTHK_ABC": true, "q=%zz&k=%67thk_a": true, "%zz&access%5Ftoken=x": true, "a=%&k=%2567thk_x": true, "monkey=1": false, "keyword=x": false, "q=%zz": false,
	} {
		if got := InQuery(q, "gthk_"); got != want {
			t.Errorf("InQuery(%q) = %v, want %v", q, got, want)
		}
	}
}

// FuzzInQuery: whatever the encoding, a query whose decoding shows the
// prefix is caught, and nothing panics.
func FuzzInQuery(f *testing.F) {
	for _, s := range []string{"q=%67thk_a", "a=%%", "x=%2567thk_", "access_token=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := InQuery(q, "gthk_")
		if strings.Contains(strings.ToLower(q), "gthk_") && !got {
			t.Fatalf("missed %q", q)
		}
	})
}
