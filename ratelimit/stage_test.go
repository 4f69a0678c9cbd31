package ratelimit

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/identity"
)

// Overrides apply however many policies the stage has (they once stopped
// silently above 16), and Check reports the quota that applied per rule.
func TestCheckOverridesManyPolicies(t *testing.T) {
	for _, n := range []int{1, 4, 5, 16, 17, 40} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			var rules []Rule
			for i := range n {
				rules = append(rules, Rule{Policy: Policy{Name: "p" + strconv.Itoa(i), Limit: 100, Window: time.Hour}, Key: []string{PartAPIKey}})
			}
			last := "p" + strconv.Itoa(n-1)
			s := NewStage(StageOptions{Route: "r", Limiter: NewMemory(MemoryOptions{}), Overrides: true, Rules: rules})
			p := &identity.Principal{Kind: identity.KindAPIKey, Subject: "a", KeyID: "k", RateLimits: map[string]int64{last: 2}}
			var res Result
			for i := range 3 {
				if err := s.Check(request("192.0.2.1", p), &res); err != nil {
					t.Fatal(err)
				}
				if want := i < 2; res.Allowed != want {
					t.Fatalf("request %d: allowed %v, want %v", i+1, res.Allowed, want)
				}
			}
			rs := res.Rules()
			if len(rs) != n || !res.Overridden {
				t.Fatalf("%d results, overridden %v", len(rs), res.Overridden)
			}
			if got := rs[n-1]; got.Quota != 2 || got.Policy.Name != last || got.Allowed || got.RetryAfter <= 0 {
				t.Errorf("overridden rule: %+v", got)
			}
			if n > 1 && (rs[0].Quota != 100 || !rs[0].Allowed) {
				t.Errorf("first rule: %+v", rs[0])
			}
			if f := policyField(rs, s.shown); !strings.HasSuffix(f, `"`+last+`";q=2;w=3600`) {
				t.Errorf("RateLimit-Policy %q", f)
			}
		})
	}
}

// Check of an anonymous request keys principal parts by address, and a
// stage without overrides never reports one.
func TestCheckWithoutOverrides(t *testing.T) {
	s := NewStage(StageOptions{Route: "r", Limiter: NewMemory(MemoryOptions{}), Rules: []Rule{
		{Policy: Policy{Name: "a", Limit: 1, Window: time.Hour}, Key: []string{PartSubject}},
	}})
	p := &identity.Principal{Kind: identity.KindAPIKey, Subject: "a", KeyID: "k", RateLimits: map[string]int64{"a": 50}}
	var res Result
	for i, want := range []bool{true, false} {
		if err := s.Check(request("192.0.2.1", p), &res); err != nil || res.Allowed != want || res.Overridden {
			t.Errorf("request %d: %+v %v", i+1, res, err)
		}
	}
	if err := s.Check(request("192.0.2.2", nil), &res); err != nil || !res.Allowed {
		t.Errorf("anonymous caller shares the subject's bucket: %+v %v", res, err)
	}
}
