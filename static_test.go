package gatehouse

import (
	"slices"
	"testing"
)

// Static settings are compared by their canonical encoding; a secret
// encodes as its reference, so a new value behind the same reference is
// found by its digest, and the change is named.
func TestStaticChanges(t *testing.T) {
	base := func() *Config {
		return &Config{DataDir: "/d", RateLimit: RateLimitBackend{Backend: "redis", Redis: &Redis{Addrs: []string{"127.0.0.1:6379"},
			Password: Secret{ref: "${env:P}", value: "one"}}}}
	}
	a := staticOf(base())
	if got := a.changed(staticOf(base())); len(got) != 0 {
		t.Errorf("equal configs differ in %v", got)
	}
	rotated := base()
	rotated.RateLimit.Redis.Password.value = "two"
	moved := base()
	moved.DataDir, moved.Log.Level = "/e", "debug"
	for _, tc := range []struct {
		name string
		c    *Config
		want []string
	}{
		{"secret rotated behind the same reference", rotated, []string{"rate_limit"}},
		{"two sections", moved, []string{"data_dir", "log"}},
	} {
		if got := a.changed(staticOf(tc.c)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: changed %v, want %v", tc.name, got, tc.want)
		}
	}
}
