package jsonenc

import (
	"encoding/json"
	"testing"
)

func TestAppendString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":           `"plain"`,
		"a\r\nb":          `"a\r\nb"`,
		`q"b\s`:           `"q\"b\\s"`,
		"\x00\x1f\t":      `"\u0000\u001f\t"`,
		"caf\u00e9":       `"caf` + "\u00e9" + `"`,
		"bad\xffutf8":     `"bad\ufffdutf8"`,
		"sep\u2028\u2029": `"sep\u2028\u2029"`,
		"</script>&<b>'":  `"</script>&<b>'"`,
	} {
		if got := string(AppendString(nil, in)); got != want {
			t.Errorf("AppendString(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzAppendString: the output is always one valid JSON string that decodes
// to the input (with invalid UTF-8 replaced) and holds no raw control byte.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\"\\", "\xff\xfe", "\u2028", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q for %q", out, s)
		}
		for _, c := range out {
			if c < 0x20 {
				t.Fatalf("raw control byte in %q", out)
			}
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		// Converting to runes replaces each invalid byte with U+FFFD, as the encoder does.
		if want := string([]rune(s)); back != want {
			t.Fatalf("round trip %q -> %q, want %q", s, back, want)
		}
	})
}
