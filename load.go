package gatehouse

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/gatehouse-dev/gatehouse/apispec"
)

// Loading: what a config names outside its YAML is read in this file
// only. Config validation loads every OpenAPI document into the config's
// documents (so a broken one fails `gatehouse validate` with its place);
// compile takes them from there, and loads what is missing — a Config
// built in code — through the same function. Documents are shared by the
// routes that name one file with the same settings.

// documents are the OpenAPI documents of one config, compiled, by file
// and settings. Safe for concurrent use.
type documents struct {
	mu    sync.Mutex
	specs map[specKey]*apispec.Spec
}

// documents returns the config's documents, creating the set on first use.
func (c *Config) documents() *documents {
	if c.docs == nil {
		c.docs = &documents{specs: map[specKey]*apispec.Spec{}}
	}
	return c.docs
}

// specKey identifies one compiled document: routes naming the same file
// with the same settings share it.
type specKey struct {
	file                  string
	strict, unknownFields bool
	maxDepth              int
	remote                string
}

func (vc *OpenAPIValidation) options() (specKey, apispec.Options) {
	o := apispec.Options{Strict: vc.Strict, RejectUnknownFields: vc.RejectUnknownFields, MaxDepth: vc.MaxDepth, AllowRemoteRefs: vc.AllowRemoteRefs}
	return specKey{vc.OpenAPI, vc.Strict, vc.RejectUnknownFields, vc.MaxDepth, strings.Join(vc.AllowRemoteRefs, "\n")}, o
}

// spec returns the compiled document of vc, loading it once.
func (d *documents) spec(vc *OpenAPIValidation) (*apispec.Spec, error) {
	key, o := vc.options()
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.specs[key]; ok {
		return s, nil
	}
	s, err := apispec.Load(vc.OpenAPI, o)
	if err != nil {
		return nil, err
	}
	d.specs[key] = s
	return s, nil
}

// trustedPrefixes parses trusted_proxies.
func trustedPrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, p := range list {
		pr, err := parsePrefix(p)
		if err != nil {
			return nil, err
		}
		out = append(out, pr)
	}
	return out, nil
}

// parsePrefix reads one trusted_proxies entry: a CIDR, or an address
// (a prefix of its full length). IPv4-mapped addresses are unmapped.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid IP address %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
