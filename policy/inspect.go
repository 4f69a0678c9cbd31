package policy

import (
	"slices"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
)

// Summary describes one policy for an audit: where it is, its effect and
// how much its scope and conditions constrain it.
type Summary struct {
	ID     string
	Permit bool // false: forbid
	File   string
	Line   int
	// AnyPrincipal, AnyAction and AnyResource report a scope that names no
	// entity (principal, or principal is Type: every entity of a type).
	AnyPrincipal, AnyAction, AnyResource bool
	// Conditions counts the when and unless clauses.
	Conditions int
	// TrivialConditions counts those of them that hold whatever the
	// request: when { true }, unless { false }, when { 1 == 1 }. A policy
	// whose conditions are all trivial is as unconditional as one without.
	TrivialConditions int
	// Actions are the action ids the action scope names (none: any action).
	Actions []string
}

func anyScope(n any) bool {
	switch n.(type) {
	case xast.ScopeTypeAll, xast.ScopeTypeIs:
		return true
	}
	return false
}

// Summaries lists every policy, in load order.
func (e *Engine) Summaries() []Summary {
	out := make([]Summary, 0, len(e.ids))
	for _, id := range e.ids {
		p := e.ps.Get(cedar.PolicyID(id))
		if p == nil {
			continue
		}
		a := p.AST()
		pos := p.Position()
		s := Summary{
			ID: id, Permit: a.Effect == xast.EffectPermit, File: pos.Filename, Line: pos.Line,
			AnyPrincipal: anyScope(a.Principal), AnyResource: anyScope(a.Resource),
			Conditions: len(a.Conditions),
		}
		for _, c := range a.Conditions {
			if v, ok := constant(c.Body); ok && v == bool(c.Condition) {
				s.TrivialConditions++
			}
		}
		switch sc := a.Action.(type) {
		case xast.ScopeTypeEq:
			s.Actions = []string{string(sc.Entity.ID)}
		case xast.ScopeTypeIn:
			s.Actions = []string{string(sc.Entity.ID)}
		case xast.ScopeTypeInSet:
			for _, ent := range sc.Entities {
				s.Actions = append(s.Actions, string(ent.ID))
			}
		default:
			s.AnyAction = true
		}
		out = append(out, s)
	}
	return out
}

// Permits reports whether any permit policy can match action: its action
// scope names it or one of its groups, or any action. An action no permit
// matches is always denied.
func (e *Engine) Permits(action string) bool {
	names := append([]string{action}, e.groups[action]...)
	for _, s := range e.Summaries() {
		if s.Permit && (s.AnyAction || slices.ContainsFunc(s.Actions, func(a string) bool { return slices.Contains(names, a) })) {
			return true
		}
	}
	return false
}

// constant folds a condition that reads nothing of the request: boolean
// literals, !, && and || (left to right, as Cedar short-circuits them, so
// that an operand that may error is never skipped over), == and != of two
// literals, and if-then-else with a constant test. ok is false when the
// value depends on the request or cannot be told.
func constant(n xast.IsNode) (v, ok bool) {
	switch n := n.(type) {
	case xast.NodeValue:
		b, isBool := n.Value.(types.Boolean)
		return bool(b), isBool
	case xast.NodeTypeNot:
		v, ok := constant(n.Arg)
		return !v, ok
	case xast.NodeTypeAnd:
		l, ok := constant(n.Left)
		if !ok || !l {
			return false, ok
		}
		return constant(n.Right)
	case xast.NodeTypeOr:
		l, ok := constant(n.Left)
		if !ok || l {
			return l, ok
		}
		return constant(n.Right)
	case xast.NodeTypeEquals, xast.NodeTypeNotEquals:
		var b xast.BinaryNode
		if e, isEq := n.(xast.NodeTypeEquals); isEq {
			b = e.BinaryNode
		} else {
			b = n.(xast.NodeTypeNotEquals).BinaryNode
		}
		l, lok := b.Left.(xast.NodeValue)
		r, rok := b.Right.(xast.NodeValue)
		if !lok || !rok {
			return false, false
		}
		eq := l.Value.Equal(r.Value)
		if _, isEq := n.(xast.NodeTypeEquals); isEq {
			return eq, true
		}
		return !eq, true
	case xast.NodeTypeIfThenElse:
		c, ok := constant(n.If)
		if !ok {
			return false, false
		}
		if c {
			return constant(n.Then)
		}
		return constant(n.Else)
	}
	return false, false
}
