package cli

import (
	"errors"
	"testing"
)

func TestTermSafe(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "Aino Mäkinen", "Aino Mäkinen"},
		{"empty", "", ""},
		{"ESC clear screen", "x\x1b[2Jy", `x\x1b[2Jy`},
		{"OSC title", "\x1b]0;owned\x07", `\x1b]0;owned\x07`},
		{"newline and tab", "a\nb\tc\r", `a\x0ab\x09c\x0d`},
		{"NUL", "a\x00b", `a\x00b`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"C1 CSI", "a\u009b2Jb", `a\u009b2Jb`},
		{"C1 NEL", "a\u0085b", `a\u0085b`},
		{"RLO", "eve\u202egnp.exe", `eve\u202egnp.exe`},
		{"LRI PDI", "\u2066x\u2069", `\u2066x\u2069`},
		{"RLM", "a\u200fb", `a\u200fb`},
		{"ALM", "a\u061cb", `a\u061cb`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
		{"backslash kept", `a\b`, `a\b`},
		{"emoji kept", "🙂 ok", "🙂 ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := termSafe(tc.in); got != tc.want {
				t.Errorf("termSafe(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestMessageEscapes: an error that quotes a stored string reaches the
// terminal escaped, its lines kept.
func TestMessageEscapes(t *testing.T) {
	err := errors.Join(errors.New("witness \x1b]0;owned\x07 refused"), errors.New("second \u202eline"))
	if got, want := Message(err), "witness \\x1b]0;owned\\x07 refused\nsecond \\u202eline"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
}
