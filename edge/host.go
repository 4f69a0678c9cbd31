package edge

import (
	"strconv"
	"strings"
)

// CanonicalHost puts a Host header (or a configured host name) into the one
// form routes are matched on (PRX-10): lower case, no trailing dot on the
// name, the port kept as sent. It reports false for what is not a host:
// characters outside a host name or IP literal, an empty name before a
// port, a port that is not a number up to 65535, an IPv6 zone.
func CanonicalHost(h string) (string, bool) {
	if h == "" {
		return "", true
	}
	name, port := h, ""
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", false
		}
		name, port = h[:end+1], h[end+1:]
		for i := 1; i < end; i++ {
			if _, hex := unhex(h[i]); !hex && h[i] != ':' && h[i] != '.' {
				return "", false
			}
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		name, port = h[:i], h[i:]
	}
	if port != "" {
		if port[0] != ':' || len(port) < 2 || len(port) > 6 {
			return "", false
		}
		n, err := strconv.Atoi(port[1:])
		if err != nil || n < 0 || n > 65535 || port[1] == '+' || port[1] == '-' {
			return "", false
		}
	}
	if name == "" {
		return "", false
	}
	if name[0] != '[' {
		if strings.HasSuffix(name, ".") {
			name = name[:len(name)-1] // one root dot; "a.." stays invalid below
		}
		if name == "" || len(name) > 253 || strings.HasSuffix(name, ".") {
			return "", false
		}
		for i := 0; i < len(name); i++ {
			c := name[i]
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
			case 'A' <= c && c <= 'Z':
			default:
				return "", false
			}
			if c == '.' && (i == 0 || name[i-1] == '.') {
				return "", false // empty label: "a..b", ".a"
			}
		}
	}
	out := strings.ToLower(name) + port
	if out == h {
		return h, true // no allocation in the common case
	}
	return out, true
}

// HostName is the name of a canonical host, without its port.
func HostName(h string) string {
	if h != "" && h[0] == '[' {
		if end := strings.IndexByte(h, ']'); end > 0 {
			return h[1:end]
		}
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}
