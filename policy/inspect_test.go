package policy

import "testing"

func TestSummariesAndPermits(t *testing.T) {
	src := `@id("open")
permit (principal, action == Gatehouse::Action::"a", resource);

@id("tenant")
permit (principal is Gatehouse::ApiKey, action in [Gatehouse::Action::"b", Gatehouse::Action::"g"], resource)
when { principal.tenant == resource.tenant };

@id("no")
forbid (principal, action, resource == Gatehouse::Order::"1");
`
	e, err := WithActionGroups([]File{{Name: "p.cedar", Data: []byte(src)}}, map[string][]string{"g": {"c"}})
	if err != nil {
		t.Fatal(err)
	}
	s := e.Summaries()
	if len(s) != 3 {
		t.Fatalf("%d summaries", len(s))
	}
	if o := s[0]; o.ID != "open" || !o.Permit || !o.AnyPrincipal || !o.AnyResource || o.AnyAction || o.Conditions != 0 || o.File != "p.cedar" || o.Line != 1 {
		t.Errorf("open: %+v", o)
	}
	if o := s[1]; !o.AnyPrincipal || o.Conditions != 1 || len(o.Actions) != 2 || o.Line != 4 {
		t.Errorf("tenant: %+v", o)
	}
	if o := s[2]; o.Permit || !o.AnyAction || o.AnyResource {
		t.Errorf("forbid: %+v", o)
	}
	for action, want := range map[string]bool{"a": true, "b": true, "c": true, "d": false} {
		if got := e.Permits(action); got != want {
			t.Errorf("Permits(%q) = %v", action, got)
		}
	}
}
