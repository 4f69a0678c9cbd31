package edge

import (
	"errors"
	"net/url"
	"strings"
)

// Errors of NormalizePath. Each is answered with a 400 problem.
var (
	ErrPathNotAbsolute = errors.New("path must start with /")
	ErrPathEncoding    = errors.New("invalid percent-encoding in path")
	ErrPathAmbiguous   = errors.New("path holds an encoded slash, a backslash or a control character")
	ErrPathDotParams   = errors.New("path holds a dot segment with parameters (..;), which servlet containers resolve")
	ErrPathParams      = errors.New("path holds ';' segment parameters, which some upstreams strip before routing (limits.path_params: allow)")
)

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

const upperHex = "0123456789ABCDEF"

// NormalizePath puts an escaped request path into the one form that routes
// are matched on and upstreams receive (PRX-05):
//
//   - percent-encoded unreserved characters are decoded (%2e -> .), other
//     escapes are kept with upper-case hex;
//   - encoded slashes and backslashes (%2F, %5C), raw backslashes and control
//     characters (raw or encoded) are refused: they mean different paths to
//     different servers;
//   - empty segments (//) are dropped and dot segments (., ..) resolved,
//     never above the root; a trailing slash is kept.
//
// It returns the escaped normal form and its decoded form.
func NormalizePath(escaped string) (normal, decoded string, err error) {
	if escaped == "" || escaped[0] != '/' {
		return "", "", ErrPathNotAbsolute
	}
	if clean, ok := alreadyNormal(escaped); ok {
		return escaped, clean, nil
	}
	// Pass 1: canonical escaping.
	var b strings.Builder
	b.Grow(len(escaped))
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		switch {
		case c == '%':
			if i+2 >= len(escaped) {
				return "", "", ErrPathEncoding
			}
			h, ok1 := unhex(escaped[i+1])
			l, ok2 := unhex(escaped[i+2])
			if !ok1 || !ok2 {
				return "", "", ErrPathEncoding
			}
			v := h<<4 | l
			i += 2
			switch {
			case v == '/' || v == '\\' || v < 0x20 || v == 0x7f:
				return "", "", ErrPathAmbiguous
			case unreserved(v):
				b.WriteByte(v)
			default:
				b.WriteByte('%')
				b.WriteByte(upperHex[v>>4])
				b.WriteByte(upperHex[v&15])
			}
		case c == '\\' || c < 0x20 || c == 0x7f:
			return "", "", ErrPathAmbiguous
		case c >= 0x80 || c == ' ' || c == '"' || c == '<' || c == '>' || c == '`' || c == '{' || c == '}' || c == '|' || c == '^' || c == '?' || c == '#' || c == '[' || c == ']':
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	// Pass 2: segments.
	segs := strings.Split(b.String()[1:], "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for i, s := range segs {
		last := i == len(segs)-1
		if dotWithParams(s) {
			return "", "", ErrPathDotParams
		}
		switch s {
		case "", ".":
			trailing = last
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			trailing = last
		default:
			out = append(out, s)
			trailing = false
		}
	}
	normal = "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		normal += "/"
	}
	decoded, err = url.PathUnescape(normal)
	if err != nil { // cannot happen: pass 1 wrote only valid escapes
		return "", "", ErrPathEncoding
	}
	return normal, decoded, nil
}

// alreadyNormal is the fast path: a path of plain characters with no empty or
// dot segments is its own normal form.
func alreadyNormal(p string) (string, bool) {
	prevSlash := false
	segStart := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' {
			if prevSlash && i > 0 {
				return "", false
			}
			if seg := p[segStart:i]; seg == "." || seg == ".." {
				return "", false
			}
			prevSlash, segStart = true, i+1
			continue
		}
		prevSlash = false
		if !(unreserved(c) || strings.IndexByte("!$&'()*+,=:@", c) >= 0) { // ';' takes the slow path
			return "", false
		}
	}
	if seg := p[segStart:]; seg == "." || seg == ".." {
		return "", false
	}
	return p, true
}

// dotWithParams reports whether a segment (unreserved escapes decoded) is
// a dot segment followed by parameters: "..;x", ".;", "..%3Bx" (PRX-11).
// Tomcat, Jetty and Spring drop the parameters and resolve the dots.
func dotWithParams(seg string) bool {
	base := seg
	if i := strings.IndexByte(seg, ';'); i >= 0 {
		base = seg[:i]
	} else if i := strings.Index(seg, "%3B"); i >= 0 { // pass 1 upper-cased the hex
		base = seg[:i]
	} else {
		return false
	}
	return base == "." || base == ".."
}

// HasPathParams reports whether an escaped path holds ';' (matrix or
// servlet path parameters, such as ;jsessionid=).
func HasPathParams(escaped string) bool { return strings.IndexByte(escaped, ';') >= 0 }
