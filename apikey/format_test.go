package apikey

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// KEY-01: >= 128 bits of secret, distinctive prefix, checksum.
func TestGenerateAndParse(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		k, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		s := k.String()
		if len(s) != Len || !strings.HasPrefix(s, Prefix) || !KeyRegexp.MatchString("leaked: "+s+" in a log") {
			t.Fatalf("key %q does not have the documented shape", s)
		}
		if seen[k.ID] || seen[k.Secret] {
			t.Fatal("repeated id or secret")
		}
		seen[k.ID], seen[k.Secret] = true, true
		got, err := Parse(s)
		if err != nil || got != k {
			t.Fatalf("Parse(%q) = %+v, %v", s, got, err)
		}
		if h := k.Hint(); strings.Contains(h, k.Secret) || !strings.HasPrefix(h, Prefix+k.ID) {
			t.Fatalf("hint %q reveals the secret or lacks the id", h)
		}
	}
	// 22 base62 characters carry at least 128 bits.
	if bits := float64(secretLen) * 5.954; bits < 128 {
		t.Fatalf("secret has %.0f bits", bits)
	}
}

func TestParseRefuses(t *testing.T) {
	k, _ := Generate()
	good := k.String()
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrMalformed},
		{"truncated", good[:Len-1], ErrMalformed},
		{"extended", good + "x", ErrMalformed},
		{"other prefix", "ghp_" + good[4:], ErrMalformed},
		{"missing separator", good[:len(Prefix)+idLen] + "-" + good[len(Prefix)+idLen+1:], ErrMalformed},
		{"non-ASCII", good[:20] + "\u00e9" + good[22:], ErrMalformed},
		{"bad checksum char", good[:Len-1] + "!", ErrMalformed},
		{"mistyped secret", flip(len(Prefix) + idLen + 5), ErrChecksum},
		{"mistyped id", flip(len(Prefix) + 2), ErrChecksum},
		{"mistyped checksum", flip(Len - 2), ErrChecksum},
		{"bearer prefix left on", "Bearer " + good[:Len-7], ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.in); !errors.Is(err, tc.want) {
				t.Errorf("Parse = %v, want %v", err, tc.want)
			}
		})
	}
}

// KEY-02: stored as HMAC-SHA-256 under a server secret of >= 256 bits,
// bound to the key id, compared in constant time.
func TestHashAndVerify(t *testing.T) {
	server := bytes.Repeat([]byte{7}, 32)
	k, _ := Generate()
	h, err := Hash(server, k)
	if err != nil || len(h) != 32 {
		t.Fatalf("Hash: %v %d", err, len(h))
	}
	if bytes.Contains(h, []byte(k.Secret)) {
		t.Fatal("hash contains the secret")
	}
	if !Verify(server, k, h) {
		t.Fatal("the right key does not verify")
	}
	other, _ := Generate()
	if Verify(server, Key{ID: k.ID, Secret: other.Secret}, h) {
		t.Fatal("right id, wrong secret verified")
	}
	if Verify(server, Key{ID: other.ID, Secret: k.Secret}, h) {
		t.Fatal("the hash moved to another id verified")
	}
	if Verify(bytes.Repeat([]byte{8}, 32), k, h) {
		t.Fatal("another server secret verified")
	}
	if _, err := Hash([]byte("short"), k); !errors.Is(err, ErrWeakServerSecret) {
		t.Fatalf("short server secret: %v", err)
	}
}

func TestRandomIsUniform(t *testing.T) {
	// Every character of the alphabet appears, and none dominates.
	counts := map[byte]int{}
	s, err := randomBase62(bytes.NewReader(bytes.Repeat([]byte{0, 61, 62, 247, 248, 255}, 2000)), 4000)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s {
		counts[s[i]]++
	}
	if counts[alphabet[0]] == 0 || counts[alphabet[61]] == 0 {
		t.Errorf("counts %v", counts)
	}
	if strings.ContainsAny(s, "\x00-_") {
		t.Error("non-alphabet character")
	}
}

// FuzzParse: arbitrary input never panics; whatever parses round-trips.
func FuzzParse(f *testing.F) {
	k, _ := Generate()
	f.Add(k.String())
	f.Add("gthk_")
	f.Add("gthk_AAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			return
		}
		if got.String() != s {
			t.Fatalf("Parse(%q) round-trips to %q", s, got.String())
		}
		if !KeyRegexp.MatchString(s) {
			t.Fatalf("parsed key %q does not match KeyPattern", s)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	k, _ := Generate()
	s := k.String()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Parse(s)
	}
}
