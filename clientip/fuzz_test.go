package clientip

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// fuzzPrefixes are the trusted proxies a fuzz input may pick from (one bit
// of its mask each), so the fuzzer explores trusting none, some and all.
var fuzzPrefixes = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("127.0.0.1/32"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("0.0.0.0/0"),
	netip.MustParsePrefix("::/0"),
}

// hop is one comma-separated element of X-Forwarded-For, as the client
// address model reads it: surrounding white space is not part of it.
type hop struct {
	raw  string
	addr netip.Addr // the zero Addr when raw is not an IP address
}

// hops lists every element of every X-Forwarded-For line, left to right.
func hops(lines []string) []hop {
	var hs []hop
	for _, line := range lines {
		for _, raw := range strings.Split(line, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(raw))
			if err != nil {
				a = netip.Addr{}
			}
			hs = append(hs, hop{raw: raw, addr: a.Unmap()})
		}
	}
	return hs
}

// trustedBy is the model of a trusted proxy: its unmapped address lies in
// one of the prefixes (an address with a zone lies in none).
func trustedBy(prefixes []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// FuzzResolve (PRX-01) feeds arbitrary peers, X-Forwarded-For lines (split
// on '\n' into several header lines) and the forwarding headers the
// resolver must not read (Forwarded, X-Real-Ip). Properties:
//   - it never panics, and the address is always unmapped (one client, one key);
//   - an untrusted (or unparsable) peer always yields the peer itself;
//   - otherwise the result is the peer or an address of X-Forwarded-For,
//     never one only Forwarded or X-Real-Ip names;
//   - a header address is returned only when every hop to its right is a
//     well-formed trusted proxy; an untrusted one only when it is the
//     right-most untrusted hop; a trusted one only when the walk could go
//     no further (it is the left-most hop or the next one is malformed).
func FuzzResolve(f *testing.F) {
	const all = 0xff
	for _, s := range []struct {
		remote string
		mask   uint8
		xff    string
		fwd    string
		real   string
	}{
		{"10.1.2.3:5000", 1, "198.51.100.7", "", ""},
		{"203.0.113.9:5000", 1, "1.2.3.4", "for=1.2.3.4", "1.2.3.4"},
		{"10.1.2.3:5000", 1, "6.6.6.6, 198.51.100.7, 10.9.9.9", "", ""},
		{"10.1.2.3:5000", 1, "6.6.6.6\n198.51.100.7", "", ""},
		{"10.1.2.3:5000", 1, "6.6.6.6, not-an-ip", "", ""},
		{"10.1.2.3:5000", 1, "10.0.0.1", "", ""},
		{"10.1.2.3:5000", 1, "", "for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.99"},
		// white space and empty elements
		{"10.1.2.3:5000", 1, "  198.51.100.7\t,\t10.0.0.2  ", "", ""},
		{"10.1.2.3:5000", 1, "198.51.100.7,,10.0.0.2", "", ""},
		{"10.1.2.3:5000", 1, ",", "", ""},
		{"10.1.2.3:5000", 1, "198.51.100.7,\n\n10.0.0.2", "", ""},
		{"10.1.2.3:5000", 1, "198.51.100.7\u00a0, 10.0.0.2\u0085", "", ""},
		// IPv6: brackets, zones, ports, mapped and compatible forms
		{"[::1]:443", 1 << 3, "2001:db8::1", "", ""},
		{"[::1]:443", 1 << 3, "[2001:db8::1]", "for=\"[2001:db8::1]:4711\"", ""},
		{"[::1]:443", 1 << 3, "[2001:db8::1]:4711", "", ""},
		{"[fe80::1%eth0]:443", 1 << 5, "198.51.100.7", "", ""},
		{"[::1]:443", 1<<3 | 1<<5, "198.51.100.7, fe80::1%eth0", "", ""},
		{"[::1]:443", 1<<3 | 1<<5, "fe80::1%25eth0, fe80::2", "", ""},
		{"[::ffff:10.0.0.5]:443", 1, "192.0.2.1", "", ""},
		{"10.1.2.3:5000", 1, "::ffff:1.2.3.4", "", ""},
		{"10.1.2.3:5000", 1, "198.51.100.7, ::ffff:10.0.0.9", "", ""},
		{"10.1.2.3:5000", 1, "::10.0.0.9", "", ""},
		{"10.1.2.3:5000", 1, "::ffff:0a00:0001", "", ""},
		// obfuscated IPv4
		{"10.1.2.3:5000", 1, "1.2.3.4.", "", ""},
		{"10.1.2.3:5000", 1, "01.02.03.04", "", ""},
		{"10.1.2.3:5000", 1, "0x0a.0.0.1", "", ""},
		{"10.1.2.3:5000", 1, "167772161", "", ""},
		{"10.1.2.3:5000", 1, "1.2.3.4:80", "", ""},
		{"10.1.2.3:5000", 1, "unknown, _hidden", "", ""},
		{"10.1.2.3:5000", 1, "1.2.3.4\x00", "", ""},
		// peers: no port, bare IPv6, garbage, empty, a port that is not one
		{"10.1.2.3", 1, "198.51.100.7", "", ""},
		{"::1", 1 << 3, "198.51.100.7", "", ""},
		{"[::1]", 1 << 3, "198.51.100.7", "", ""},
		{"", all, "198.51.100.7", "", ""},
		{"@", all, "198.51.100.7", "", ""},
		{"10.1.2.3:http", 1, "198.51.100.7", "", ""},
		{"10.1.2.3:99999", 1, "198.51.100.7", "", ""},
		// trust everything: the walk runs off the left end
		{"203.0.113.9:1", all, "198.51.100.7, 203.0.113.1", "", ""},
		// very long lists
		{"10.1.2.3:5000", 1, strings.Repeat("10.0.0.1, ", 2000) + "10.0.0.2", "", ""},
		{"10.1.2.3:5000", 1, "198.51.100.7" + strings.Repeat(",10.0.0.1", 3000), "", ""},
		{"10.1.2.3:5000", 1, strings.Repeat(",", 5000), "", ""},
		{"10.1.2.3:5000", 1, strings.Repeat("10.0.0.1\n", 500), "", ""},
	} {
		f.Add(s.remote, s.mask, s.xff, s.fwd, s.real)
	}
	f.Fuzz(func(t *testing.T, remote string, mask uint8, xff, fwd, real string) {
		var trusted []netip.Prefix
		for i, p := range fuzzPrefixes {
			if mask&(1<<i) != 0 {
				trusted = append(trusted, p)
			}
		}
		r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		var lines []string
		if xff != "" {
			lines = strings.Split(xff, "\n")
			for _, l := range lines {
				r.Header.Add("X-Forwarded-For", l)
			}
		}
		if fwd != "" {
			r.Header.Set("Forwarded", fwd)
		}
		if real != "" {
			r.Header.Set("X-Real-Ip", real)
		}

		got, via := New(trusted).Resolve(r)

		peer := Peer(r)
		if got.Is4In6() {
			t.Fatalf("result %s is an IPv4-mapped address", got)
		}
		if !peer.IsValid() || !trustedBy(trusted, peer) {
			if got != peer || via {
				t.Fatalf("untrusted peer %q: got %s via=%v, want the peer %s", remote, got, via, peer)
			}
			return
		}
		if !via {
			t.Fatalf("trusted peer %s: via=false", peer)
		}
		hs := hops(lines)
		// The hops the resolver may walk past: the suffix of well-formed
		// trusted proxies. The next one to the left is where it stops.
		stop := len(hs) - 1
		for stop >= 0 && hs[stop].addr.IsValid() && trustedBy(trusted, hs[stop].addr) {
			stop--
		}
		var want netip.Addr
		switch {
		case stop >= 0 && hs[stop].addr.IsValid():
			want = hs[stop].addr // the right-most untrusted hop
		case stop+1 < len(hs):
			want = hs[stop+1].addr // the last trusted hop before a malformed one or the left end
		default:
			want = peer // no header, or a malformed right-most hop
		}
		if got != want {
			t.Fatalf("peer %s, X-Forwarded-For %q: got %s, want %s", peer, lines, got, want)
		}
		if got != peer {
			// Right to left: right stays true while every hop passed is a
			// well-formed trusted proxy.
			found, right := false, true
			for i := len(hs) - 1; i >= 0 && right && !found; i-- {
				found = hs[i].addr == got
				right = hs[i].addr.IsValid() && trustedBy(trusted, hs[i].addr)
			}
			if !found {
				t.Fatalf("got %s: not an X-Forwarded-For hop with only trusted hops to its right (%q; Forwarded %q, X-Real-Ip %q)", got, lines, fwd, real)
			}
		}
	})
}
