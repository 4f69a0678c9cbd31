package clientip

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestResolve(t *testing.T) {
	rs := New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	tests := []struct {
		name, remote string
		xff          []string
		want         string
		viaProxy     bool
	}{
		{"untrusted peer, spoofed header ignored", "203.0.113.9:5000", []string{"1.2.3.4"}, "203.0.113.9", false},
		{"trusted peer, client from header", "10.1.2.3:5000", []string{"198.51.100.7"}, "198.51.100.7", true},
		{"trusted chain, right-most untrusted wins", "10.1.2.3:5000", []string{"6.6.6.6, 198.51.100.7, 10.9.9.9"}, "198.51.100.7", true},
		{"several header lines", "10.1.2.3:5000", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7", true},
		{"garbage stops the walk", "10.1.2.3:5000", []string{"6.6.6.6, not-an-ip"}, "10.1.2.3", true},
		{"all trusted", "10.1.2.3:5000", []string{"10.0.0.1"}, "10.0.0.1", true},
		{"no header", "10.1.2.3:5000", nil, "10.1.2.3", true},
		{"IPv6 peer", "[::1]:443", []string{"2001:db8::1"}, "2001:db8::1", true},
		{"mapped IPv4 peer", "[::ffff:10.0.0.5]:443", []string{"192.0.2.1"}, "192.0.2.1", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, via := rs.Resolve(r)
			if got.String() != tc.want || via != tc.viaProxy {
				t.Errorf("Resolve = %s %v, want %s %v", got, via, tc.want, tc.viaProxy)
			}
		})
	}
}

func TestZeroResolverTrustsNobody(t *testing.T) {
	r := &http.Request{RemoteAddr: "127.0.0.1:1", Header: http.Header{"X-Forwarded-For": {"1.1.1.1"}}}
	if got, _ := New(nil).Resolve(r); got.String() != "127.0.0.1" {
		t.Errorf("got %s", got)
	}
}
