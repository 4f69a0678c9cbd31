package policy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/record"
)

const orders = `
@id("admins-do-anything")
permit (principal in Gatehouse::Role::"admin", action, resource);

@id("tenant-isolation")
permit (principal, action == Gatehouse::Action::"orders.read", resource is Gatehouse::Order)
when { principal.tenant == resource.tenant };

@id("owners-update")
permit (principal, action == Gatehouse::Action::"orders.update", resource is Gatehouse::Order)
when { principal.subject == resource.owner && principal.scopes.contains("orders:write") };

@id("no-deletes-from-outside")
forbid (principal, action == Gatehouse::Action::"orders.delete", resource)
unless { context.ip.isInRange(ip("10.0.0.0/8")) };

@id("gold-plan-reports")
permit (principal, action == Gatehouse::Action::"reports.read", resource)
when { principal.plan == "gold" && context.time > datetime("2026-01-01T00:00:00Z") };
`

func engine(t testing.TB) *Engine {
	t.Helper()
	e, err := Compile([]File{{Name: "orders.cedar", Data: []byte(orders)}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var (
	alice = &identity.Principal{Kind: identity.KindAPIKey, KeyID: "k-alice", Subject: "alice", Tenant: "acme", Roles: []string{"customer"}, Scopes: []string{"orders:read", "orders:write"}, Attrs: map[string]any{"plan": "gold"}}
	carol = &identity.Principal{Kind: identity.KindAPIKey, KeyID: "k-carol", Subject: "carol", Tenant: "globex", Roles: []string{"customer"}, Scopes: []string{"orders:read"}}
	root  = &identity.Principal{Kind: identity.KindUser, Subject: "root", Roles: []string{"admin"}}
	noTen = &identity.Principal{Kind: identity.KindAPIKey, KeyID: "k-x", Subject: "x"}
)

func order(tenant, owner string) Resource {
	return Resource{Type: "Order", ID: "1", Attrs: map[string]string{"tenant": tenant, "owner": owner}}
}

// AZ-01..04 as a table: RBAC, ABAC, object level, default deny, forbid wins,
// missing attributes deny.
func TestDecide(t *testing.T) {
	e := engine(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	outside, inside := netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("10.1.2.3")
	tests := []struct {
		name    string
		in      Input
		allowed bool
		by      string
	}{
		{"tenant reads its own order", Input{Principal: alice, Action: "orders.read", Resource: order("acme", "bob")}, true, "tenant-isolation"},
		{"tenant A never reads tenant B's order", Input{Principal: carol, Action: "orders.read", Resource: order("acme", "bob")}, false, ""},
		{"owner with scope updates", Input{Principal: alice, Action: "orders.update", Resource: order("acme", "alice")}, true, "owners-update"},
		{"non-owner cannot update", Input{Principal: alice, Action: "orders.update", Resource: order("acme", "bob")}, false, ""},
		{"owner without scope cannot update", Input{Principal: carol, Action: "orders.update", Resource: order("globex", "carol")}, false, ""},
		{"role admin may delete from inside", Input{Principal: root, Action: "orders.delete", Resource: order("acme", "bob"), IP: inside}, true, "admins-do-anything"},
		{"forbid overrides permit: admin outside", Input{Principal: root, Action: "orders.delete", Resource: order("acme", "bob"), IP: outside}, false, "no-deletes-from-outside"},
		{"customer cannot delete (function level)", Input{Principal: alice, Action: "orders.delete", Resource: order("acme", "alice"), IP: inside}, false, ""},
		{"ABAC on free attribute and time", Input{Principal: alice, Action: "reports.read", Time: now}, true, "gold-plan-reports"},
		{"missing attribute denies, no error", Input{Principal: carol, Action: "reports.read", Time: now}, false, ""},
		{"missing tenant denies", Input{Principal: noTen, Action: "orders.read", Resource: order("acme", "x")}, false, ""},
		{"anonymous denied", Input{Action: "orders.read", Resource: order("acme", "x")}, false, ""},
		{"unknown action: default deny", Input{Principal: alice, Action: "orders.export", Resource: order("acme", "alice")}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.in.Time.IsZero() {
				tc.in.Time = now
			}
			d := e.Decide(tc.in)
			if d.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (%+v)", d.Allowed, tc.allowed, d)
			}
			if tc.by != "" && (len(d.Policies) == 0 || d.Policies[0] != tc.by) {
				t.Errorf("decided by %v, want %s", d.Policies, tc.by)
			}
		})
	}
	var nilEngine *Engine
	if nilEngine.Decide(Input{Principal: root, Action: "x"}).Allowed {
		t.Error("a nil engine allowed")
	}
}

func TestCompileErrors(t *testing.T) {
	if _, err := Compile([]File{{Name: "bad.cedar", Data: []byte("permit (principal, action, resource) when { principal. };")}}); err == nil || !strings.Contains(err.Error(), "bad.cedar") {
		t.Errorf("syntax error: %v", err)
	}
	dup := `@id("a") permit (principal, action, resource); @id("a") forbid (principal, action, resource);`
	if _, err := Compile([]File{{Name: "dup.cedar", Data: []byte(dup)}}); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("duplicate id: %v", err)
	}
	e, err := Compile([]File{{Name: "x.cedar", Data: []byte("permit (principal, action, resource);")}})
	if err != nil || e.Len() != 1 {
		t.Fatalf("%v %d", err, e.Len())
	}
	if d := e.Decide(Input{Action: "a"}); !d.Allowed || d.Policies[0] != "x.cedar#0" {
		t.Errorf("ids without annotation: %+v", d)
	}
}

func TestStage(t *testing.T) {
	e := engine(t)
	mux := http.NewServeMux()
	rt := &Route{Name: "order", Action: "orders.read", ResourceType: "Order", ResourceID: "{id}", Params: []string{"tenant", "id"}}
	decisions := &decisionLog{}
	mux.Handle("GET /tenants/{tenant}/orders/{id}", (&Stage{Engine: e, Route: rt}).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })))
	serve := func(p *identity.Principal, path string) int {
		req := httptest.NewRequest("GET", path, nil)
		req = req.WithContext(record.With(req.Context(), decisions))
		if p != nil {
			req = req.WithContext(identity.With(req.Context(), p))
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code == 403 && strings.Contains(rec.Body.String(), "tenant") {
			t.Errorf("403 body reveals policy: %s", rec.Body)
		}
		return rec.Code
	}
	if c := serve(alice, "/tenants/acme/orders/7"); c != 204 {
		t.Errorf("own tenant: %d", c)
	}
	if c := serve(carol, "/tenants/acme/orders/7"); c != 403 {
		t.Errorf("other tenant: %d", c)
	}
	if c := serve(nil, "/tenants/acme/orders/7"); c != 403 {
		t.Errorf("anonymous: %d", c)
	}
	if ds := decisions.ds; len(ds) != 3 || ds[0].Policies[0] != "tenant-isolation" || !ds[0].Allowed || ds[1].Allowed {
		t.Errorf("decisions %+v", ds)
	}
}

// decisionLog is a request record that keeps the decisions reported to it.
type decisionLog struct {
	record.Discard
	ds []record.Decision
}

func (l *decisionLog) SetDecision(d record.Decision) { l.ds = append(l.ds, d) }

// FuzzInput: arbitrary path segments and header values never panic and
// never allow what the policies do not.
func FuzzInput(f *testing.F) {
	e := engine(f)
	rt := &Route{Name: "order", Action: "orders.read", ResourceType: "Order", ResourceID: "{id}", Params: []string{"tenant", "id"}, Headers: []string{"X-Team"}}
	f.Add("acme", "7", "blue")
	f.Add("a\"c\\me", "\x00", "\xff")
	f.Fuzz(func(t *testing.T, tenant, id, team string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.SetPathValue("tenant", tenant)
		req.SetPathValue("id", id)
		req.Header.Set("X-Team", team)
		req = req.WithContext(identity.With(req.Context(), carol))
		d := e.Decide(rt.Input(req, time.Now()))
		if d.Allowed != (tenant == "globex") {
			t.Fatalf("tenant %q: allowed %v", tenant, d.Allowed)
		}
	})
}

// BenchmarkDecide50: a decision against a 50-policy set.
func BenchmarkDecide50(b *testing.B) {
	var src strings.Builder
	for i := range 48 {
		fmt.Fprintf(&src, "permit (principal in Gatehouse::Role::\"r%d\", action == Gatehouse::Action::\"a%d\", resource) when { principal.tenant == resource.tenant };\n", i, i)
	}
	src.WriteString(orders[:strings.Index(orders, "@id(\"owners-update\")")])
	e, err := Compile([]File{{Name: "bench.cedar", Data: []byte(src.String())}})
	if err != nil {
		b.Fatal(err)
	}
	if e.Len() != 50 {
		b.Fatalf("%d policies", e.Len())
	}
	in := Input{Principal: alice, Action: "orders.read", Resource: order("acme", "bob"), IP: netip.MustParseAddr("10.0.0.1"), Time: time.Now(), Method: "GET", Path: "/tenants/acme/orders/1"}
	if !e.Decide(in).Allowed {
		b.Fatal("not allowed")
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(in)
	}
}

func TestActionGroups(t *testing.T) {
	src := `@id("writers") permit (principal in Gatehouse::Role::"writer", action in Gatehouse::Action::"orders.write", resource);`
	e, err := WithActionGroups([]File{{Name: "g.cedar", Data: []byte(src)}}, map[string][]string{"orders.write": {"orders.update", "orders.delete"}})
	if err != nil {
		t.Fatal(err)
	}
	w := &identity.Principal{Kind: identity.KindUser, Subject: "w", Roles: []string{"writer"}}
	for action, want := range map[string]bool{"orders.update": true, "orders.delete": true, "orders.read": false} {
		if d := e.Decide(Input{Principal: w, Action: action}); d.Allowed != want {
			t.Errorf("%s: allowed %v, want %v", action, d.Allowed, want)
		}
	}
}

// AZ-06: the same sub from two issuers is two principals.
func TestAZ06PrincipalsQualifiedByIssuer(t *testing.T) {
	e, err := Compile([]File{{Name: "p.cedar", Data: []byte(`permit (principal == Gatehouse::User::"https://idp-a.example#alice", action, resource);`)}})
	if err != nil {
		t.Fatal(err)
	}
	in := func(iss string) Input {
		return Input{Principal: &identity.Principal{Kind: identity.KindUser, Subject: "alice", Issuer: iss}, Action: "x", Resource: Resource{ID: "r"}}
	}
	if !e.Decide(in("https://idp-a.example")).Allowed {
		t.Error("alice of idp-a denied")
	}
	if e.Decide(in("https://idp-b.example")).Allowed {
		t.Error("alice of idp-b is taken for alice of idp-a")
	}
	if a, b := PrincipalUID(in("https://idp-a.example").Principal), PrincipalUID(in("https://idp-b.example").Principal); a == b {
		t.Errorf("one entity for two issuers: %v", a)
	}
}

// AZ-06: request values enter a fetch URL as one escaped path segment.
func TestAZ06FetchPathSegment(t *testing.T) {
	for v, want := range map[string]string{"1": "1", "..": "%2E%2E", ".": "%2E", "a/b": "a%2Fb", "x?y#z": "x%3Fy%23z", "a%2F": "a%252F"} {
		if got := pathSegment(v); got != want {
			t.Errorf("pathSegment(%q) = %q, want %q", v, got, want)
		}
	}
}
