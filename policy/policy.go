// Package policy decides requests with Cedar policies (RBAC and ABAC in
// one language, AZ-01..05). Compile turns policy files into an Engine once,
// at config load; Decide is pure: it builds the Cedar request (principal,
// action, resource, context) from an Input and evaluates it. The default
// is deny: a request that no permit matches, or that any forbid matches,
// is refused, and so is one whose evaluation fails (for example a policy
// reading an attribute the principal lacks). Wrap is the HTTP stage.
//
// Entities (namespace Gatehouse):
//   - principal: Gatehouse::ApiKey::"<key id>", Gatehouse::User::"<iss>#<sub>"
//     or Gatehouse::Client::"<iss>#<client>" (AZ-06: qualified by issuer),
//     with parents Gatehouse::Role::"<role>"
//     and attributes subject, issuer, scopes (a set), tenant (when set) and
//     the key's or token's free attributes; anonymous callers are
//     Gatehouse::Anonymous::"anonymous" with no attributes;
//   - action: Gatehouse::Action::"<route action>";
//   - resource: Gatehouse::Route::"<route>" or the type the route declares,
//     with the route's path parameters (and mapped attributes) as strings;
//   - context: method, path, ip (an ip value), time (a datetime) and the
//     request headers the route allowlists (record keyed by lower-case name).
package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
	"github.com/gatehouse-dev/gatehouse/identity"
)

// File is one policy document.
type File struct {
	Name string
	Data []byte
}

// Engine is a compiled policy set, indexed by action: a decision
// evaluates only the policies whose action scope can match (action ==,
// in, in [...]) plus those for any action. Actions have no parents in the
// entities the gateway builds, so "in" and "==" select the same policies.
// Immutable; safe for concurrent use.
type Engine struct {
	ps       *cedar.PolicySet
	byAction map[cedar.String]*cedar.PolicySet
	anyOnly  *cedar.PolicySet // policies for any action: used for other actions
	ids      []string
	// groups maps an action to the action groups it belongs to (its
	// parents): "action in Gatehouse::Action::\"<group>\"" matches members.
	groups map[string][]string
}

// WithActionGroups compiles like Compile, with action groups: group name to
// member actions. Groups may not nest.
func WithActionGroups(files []File, groups map[string][]string) (*Engine, error) {
	e, err := compile(files)
	if err != nil {
		return nil, err
	}
	e.groups = map[string][]string{}
	for g, members := range groups {
		for _, m := range members {
			e.groups[m] = append(e.groups[m], g)
		}
	}
	e.index()
	return e, nil
}

func (e *Engine) index() {
	type entry struct {
		id cedar.PolicyID
		p  *cedar.Policy
	}
	var wildcard []entry
	specific := map[cedar.String][]entry{}
	for id, p := range e.ps.All() {
		switch a := p.AST().Action.(type) {
		case xast.ScopeTypeEq:
			specific[a.Entity.ID] = append(specific[a.Entity.ID], entry{id, p})
		case xast.ScopeTypeIn:
			specific[a.Entity.ID] = append(specific[a.Entity.ID], entry{id, p})
		case xast.ScopeTypeInSet:
			for _, ent := range a.Entities {
				specific[ent.ID] = append(specific[ent.ID], entry{id, p})
			}
		default:
			wildcard = append(wildcard, entry{id, p})
		}
	}
	build := func(es ...[]entry) *cedar.PolicySet {
		ps := cedar.NewPolicySet()
		for _, l := range es {
			for _, x := range l {
				ps.Add(x.id, x.p)
			}
		}
		return ps
	}
	// A member action also gets the policies scoped to its groups.
	for member, groups := range e.groups {
		for _, g := range groups {
			specific[cedar.String(member)] = append(specific[cedar.String(member)], specific[cedar.String(g)]...)
		}
	}
	e.anyOnly = build(wildcard)
	e.byAction = map[cedar.String]*cedar.PolicySet{}
	for action, l := range specific {
		e.byAction[action] = build(l, wildcard)
	}
}

// Compile parses every file. Policy ids are the @id("...") annotation when
// present, otherwise "<file>#<index>"; a repeated id is an error.
func Compile(files []File) (*Engine, error) {
	e, err := compile(files)
	if err != nil {
		return nil, err
	}
	e.index()
	return e, nil
}

func compile(files []File) (*Engine, error) {
	e := &Engine{ps: cedar.NewPolicySet()}
	var errs []error
	for _, f := range files {
		list, err := cedar.NewPolicyListFromBytes(f.Name, f.Data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
			continue
		}
		for i, p := range list {
			id := fmt.Sprintf("%s#%d", f.Name, i)
			if a, ok := p.Annotations()["id"]; ok && a != "" {
				id = string(a)
			}
			if !e.ps.Add(cedar.PolicyID(id), p) {
				errs = append(errs, fmt.Errorf("%s: policy id %q is used twice", f.Name, id))
				continue
			}
			e.ids = append(e.ids, id)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return e, nil
}

// Len returns the number of policies.
func (e *Engine) Len() int { return len(e.ids) }

// Resource is what a request acts on.
type Resource struct {
	Type  string // Cedar type name in the Gatehouse namespace; "" means Route
	ID    string
	Attrs map[string]string
}

// Input is everything a decision may look at.
type Input struct {
	Principal *identity.Principal // nil: anonymous
	Action    string
	Resource  Resource
	Method    string
	Path      string
	IP        netip.Addr
	Time      time.Time
	Headers   map[string]string // allowlisted, lower-case names
}

// Decision is the outcome: allowed or not, the ids of the deciding
// policies (permits when allowed, forbids when a forbid matched), and
// evaluation errors (logged, never sent to clients).
type Decision struct {
	Allowed  bool
	Policies []string
	Errors   []string
}

const ns = "Gatehouse::"

var noHeaders = cedar.NewRecord(nil)

// qualified is a user's or client's entity id: the subject qualified by
// its issuer ("<iss>#<sub>"), so the same sub from two issuers is two
// principals (AZ-06). Without an issuer (decision API inputs), the subject.
func qualified(p *identity.Principal) cedar.String {
	if p.Issuer == "" {
		return cedar.String(p.Subject)
	}
	return cedar.String(p.Issuer + "#" + p.Subject)
}

// PrincipalUID returns the Cedar entity of a principal.
func PrincipalUID(p *identity.Principal) cedar.EntityUID {
	switch {
	case p.Anonymous():
		return cedar.NewEntityUID(ns+"Anonymous", "anonymous")
	case p.Kind == identity.KindAPIKey:
		return cedar.NewEntityUID(ns+"ApiKey", cedar.String(p.KeyID))
	case p.Kind == identity.KindClient:
		return cedar.NewEntityUID(ns+"Client", qualified(p))
	}
	return cedar.NewEntityUID(ns+"User", qualified(p))
}

func value(v any) (cedar.Value, bool) {
	switch x := v.(type) {
	case string:
		return cedar.String(x), true
	case bool:
		return cedar.Boolean(x), true
	case float64:
		if x == float64(int64(x)) {
			return cedar.Long(int64(x)), true
		}
	case int:
		return cedar.Long(int64(x)), true
	case int64:
		return cedar.Long(x), true
	case []any:
		vals := make([]cedar.Value, 0, len(x))
		for _, e := range x {
			if cv, ok := value(e); ok {
				vals = append(vals, cv)
			}
		}
		return cedar.NewSet(vals...), true
	}
	return nil, false
}

// request builds the Cedar request and the entities it needs.
func (e *Engine) request(in Input) (cedar.Request, cedar.EntityMap) {
	entities := cedar.EntityMap{}
	action := cedar.NewEntityUID(ns+"Action", cedar.String(in.Action))
	if groups := e.groups[in.Action]; len(groups) > 0 {
		parents := make([]cedar.EntityUID, len(groups))
		for i, g := range groups {
			parents[i] = cedar.NewEntityUID(ns+"Action", cedar.String(g))
		}
		entities[action] = cedar.Entity{UID: action, Parents: cedar.NewEntityUIDSet(parents...)}
	}
	principal := PrincipalUID(in.Principal)
	if p := in.Principal; !p.Anonymous() {
		attrs := cedar.RecordMap{}
		for k, v := range p.Attrs { // free attributes first: the fixed ones below win
			if cv, ok := value(v); ok {
				attrs[cedar.String(k)] = cv
			}
		}
		attrs["subject"] = cedar.String(p.Subject)
		attrs["issuer"] = cedar.String(p.Issuer)
		scopes := make([]cedar.Value, len(p.Scopes))
		for i, s := range p.Scopes {
			scopes[i] = cedar.String(s)
		}
		attrs["scopes"] = cedar.NewSet(scopes...)
		if p.Tenant != "" {
			attrs["tenant"] = cedar.String(p.Tenant)
		}
		parents := make([]cedar.EntityUID, len(p.Roles))
		for i, r := range p.Roles {
			parents[i] = cedar.NewEntityUID(ns+"Role", cedar.String(r))
		}
		entities[principal] = cedar.Entity{UID: principal, Parents: cedar.NewEntityUIDSet(parents...), Attributes: cedar.NewRecord(attrs)}
	}
	typ := in.Resource.Type
	if typ == "" {
		typ = "Route"
	}
	resource := cedar.NewEntityUID(cedar.EntityType(ns+typ), cedar.String(in.Resource.ID))
	rattrs := cedar.RecordMap{}
	for k, v := range in.Resource.Attrs {
		rattrs[cedar.String(k)] = cedar.String(v)
	}
	entities[resource] = cedar.Entity{UID: resource, Attributes: cedar.NewRecord(rattrs)}
	ctx := cedar.RecordMap{
		"method": cedar.String(in.Method),
		"path":   cedar.String(in.Path),
		"time":   cedar.NewDatetime(in.Time),
	}
	if in.IP.IsValid() {
		if ip, err := types.ParseIPAddr(in.IP.String()); err == nil {
			ctx["ip"] = ip
		}
	}
	if len(in.Headers) == 0 {
		ctx["headers"] = noHeaders
	} else {
		headers := cedar.RecordMap{}
		for k, v := range in.Headers {
			headers[cedar.String(strings.ToLower(k))] = cedar.String(v)
		}
		ctx["headers"] = cedar.NewRecord(headers)
	}
	return cedar.Request{
		Principal: principal,
		Action:    action,
		Resource:  resource,
		Context:   cedar.NewRecord(ctx),
	}, entities
}

// Decide evaluates in against the policies. A nil engine denies everything.
func (e *Engine) Decide(in Input) Decision {
	if e == nil {
		return Decision{}
	}
	req, entities := e.request(in)
	ps, ok := e.byAction[cedar.String(in.Action)]
	if !ok {
		ps = e.anyOnly
	}
	d, diag := cedar.Authorize(ps, entities, req)
	out := Decision{Allowed: d == cedar.Allow}
	for _, r := range diag.Reasons {
		out.Policies = append(out.Policies, string(r.PolicyID))
	}
	for _, er := range diag.Errors {
		out.Errors = append(out.Errors, fmt.Sprintf("%s: %s", er.PolicyID, er.Message))
	}
	return out
}
