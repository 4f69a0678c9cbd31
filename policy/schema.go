package policy

import (
	"errors"
	"fmt"
	"sort"

	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"
)

// TypeCheck validates every policy against a Cedar schema (in Cedar's
// human-readable schema syntax): unknown entity types, attributes and
// actions, and type errors. It returns every problem found.
func (e *Engine) TypeCheck(name string, schemaText []byte) error {
	var s schema.Schema
	s.SetFilename(name)
	if err := s.UnmarshalCedar(schemaText); err != nil {
		return fmt.Errorf("schema %s: %w", name, err)
	}
	res, err := s.Resolve()
	if err != nil {
		return fmt.Errorf("schema %s: %w", name, err)
	}
	v := validate.New(res, validate.WithStrict())
	ids := append([]string(nil), e.ids...)
	sort.Strings(ids)
	var errs []error
	for id, p := range e.ps.All() {
		if err := v.Policy(string(id), (*xast.Policy)(p.AST())); err != nil {
			errs = append(errs, fmt.Errorf("policy %s: %w", id, err))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}
