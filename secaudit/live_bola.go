package secaudit

import (
	"context"
	"fmt"
	"net/http"
)

// probeCrossPrincipal checks object level authorization (AZ-03, OWASP
// API1): each object the first principal reads must be refused (403 or
// 404) to the second, for GET and HEAD, and with Destructive for PATCH {}
// and DELETE.
func (p *prober) probeCrossPrincipal(ctx context.Context) {
	if len(p.o.Objects) == 0 {
		if p.o.OtherKey != "" {
			p.inconclusive(p.origin, "cross-principal: --as-other given without --object: nothing to probe")
		}
		return
	}
	owner := p.credentialHeader()
	if owner == nil || p.o.OtherKey == "" {
		p.inconclusive(p.origin, "cross-principal: needs the first principal's --api-key (or --token) and the second's --as-other")
		return
	}
	other := p.keyHeader(p.o.OtherKey)
	for _, obj := range p.o.Objects {
		a, err := p.do(ctx, http.MethodGet, obj, owner, nil)
		if p.failed("cross-principal", obj, err) {
			continue
		}
		if !a.ok() {
			p.inconclusive(p.at(obj), "cross-principal: the first principal's GET was answered %d, not 2xx: skipped", a.status)
			continue
		}
		type try struct {
			method string
			body   []byte
		}
		tries := []try{{http.MethodGet, nil}, {http.MethodHead, nil}}
		if p.o.Destructive {
			tries = append(tries, try{http.MethodPatch, []byte("{}")}, try{http.MethodDelete, nil})
		}
		for _, t := range tries {
			h := other.Clone()
			if t.body != nil {
				h.Set("Content-Type", "application/json")
			}
			b, err := p.do(ctx, t.method, obj, h, t.body)
			if p.failed("cross-principal", obj, err) {
				continue
			}
			rule := ruleBOLARead
			if t.method == http.MethodPatch || t.method == http.MethodDelete {
				rule = ruleBOLAWrite
			}
			switch {
			case b.ok():
				p.report(rule, p.at(obj), fmt.Sprintf("%s as the second principal was answered %d: the first principal's object (which the first principal reads with %d)", t.method, b.status, a.status))
			case b.status == http.StatusForbidden || b.status == http.StatusNotFound:
			case b.status == http.StatusUnauthorized:
				p.inconclusive(p.at(obj), "cross-principal: %s as the second principal was answered 401: is --as-other a valid key?", t.method)
			default:
				p.inconclusive(p.at(obj), "cross-principal: %s as the second principal was answered %d, neither 2xx nor 403/404", t.method, b.status)
			}
		}
	}
}
