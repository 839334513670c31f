package hetu

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Official DVV examples (including the century signs added in 2023) and a
// few extra edge cases.
var validCodes = []string{
	"131052-308T", "131052A308T",
	"010594Y9032", "010594Y9021", "020594X903P", "020594X902N",
	"030594W903B", "030694W9024", "040594V9030", "040594V902Y",
	"050594U903M", "050594U902L", "010516B903X", "010516B902W",
	"020516C903K", "020516C902J", "030516D9037", "030516D9026",
	"010501E9032", "020502E902X", "020503F9037", "020504A902E",
	"020504B904H",
	"290224A902L", // 2024 is a leap year
	"290200A902D", // 2000 is a leap year
	"010100+002H", // 1800s, smallest valid individual number
	"311299-8997",
	"010180+0025",
}

func TestParseValid(t *testing.T) {
	for _, s := range validCodes {
		c, err := Parse(s)
		if err != nil {
			t.Errorf("Parse(%q): %v", s, err)
			continue
		}
		if got := c.String(); got != s {
			t.Errorf("Parse(%q).String() = %q", s, got)
		}
	}
}

func TestParseDetails(t *testing.T) {
	tests := []struct {
		in        string
		canonical string
		birth     time.Time
		temporary bool
		sex       string
	}{
		{"131052-308T", "131052-308T", date(1952, 10, 13), false, "female"},
		{"  131052a308t\t", "131052A308T", date(2052, 10, 13), false, "female"},
		{"010594Y9032", "010594Y9032", date(1994, 5, 1), true, "male"},
		{"010594y9021", "010594Y9021", date(1994, 5, 1), true, "female"},
		{"010516B903X", "010516B903X", date(2016, 5, 1), true, "male"},
		{"010100+002H", "010100+002H", date(1800, 1, 1), false, "female"},
		{"311299-8997", "311299-8997", date(1999, 12, 31), false, "male"},
		{"290200A902D", "290200A902D", date(2000, 2, 29), true, "female"},
	}
	for _, tt := range tests {
		c, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := c.String(); got != tt.canonical {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.canonical)
		}
		if got := c.BirthDate(); !got.Equal(tt.birth) || got.Location() != time.UTC {
			t.Errorf("Parse(%q).BirthDate() = %v, want %v", tt.in, got, tt.birth)
		}
		if got := c.Temporary(); got != tt.temporary {
			t.Errorf("Parse(%q).Temporary() = %v, want %v", tt.in, got, tt.temporary)
		}
		if got := c.Sex(); got != tt.sex {
			t.Errorf("Parse(%q).Sex() = %q, want %q", tt.in, got, tt.sex)
		}
	}
}

func date(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }

var invalidCodes = []struct {
	in   string
	want *Error
}{
	{"", errLength},
	{"   ", errLength},
	{"131052-308", errLength},
	{"131052-308TT", errLength},
	{"131052 -308T", errLength},
	{"131052–308T", errNonASCII}, // en dash
	{"131052-308Ť", errNonASCII},
	{"\xff31052-308T", errNonASCII},
	{"131052Z308T", errCentury},
	{"131052G308T", errCentury},
	{"131052_308T", errCentury},
	{"131052 308T", errCentury},
	{"320152-308T", errDate},
	{"001052-308T", errDate},
	{"131352-308T", errDate},
	{"130052-308T", errDate},
	{"290223A902L", errDate}, // 2023 is not a leap year
	{"290200-902D", errDate}, // 1900 is not a leap year
	{"310452-308T", errDate}, // April has 30 days
	{"1a1052-308T", errDate},
	{"13105x-308T", errDate},
	{"-11052-308T", errDate},
	{"131052-000V", errIndividual},
	{"131052-001W", errIndividual},
	{"131052-3a8T", errIndividual},
	{"131052-+08T", errIndividual},
	{"131052-308U", errCheck},
	{"131052-308G", errCheck}, // G is not in the check alphabet
	{"131052-3080", errCheck},
	{"131053-308T", errCheck},
	{"131052-309T", errCheck},
}

func TestParseInvalid(t *testing.T) {
	for _, tt := range invalidCodes {
		_, err := Parse(tt.in)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%q) error = %v, want *Error", tt.in, err)
			continue
		}
		if e != tt.want {
			t.Errorf("Parse(%q) error = %q, want %q", tt.in, e, tt.want)
		}
	}
}

// TestErrorsDoNotEchoInput guards against personal data leaking into logs.
func TestErrorsDoNotEchoInput(t *testing.T) {
	for _, tt := range invalidCodes {
		_, err := Parse(tt.in)
		if err == nil {
			t.Fatalf("Parse(%q) succeeded", tt.in)
		}
		msg := err.Error()
		in := strings.TrimSpace(tt.in)
		if in == "" {
			continue
		}
		for _, frag := range fragments(in) {
			if strings.Contains(strings.ToUpper(msg), strings.ToUpper(frag)) {
				t.Errorf("error %q for input %q contains %q", msg, tt.in, frag)
			}
		}
	}
}

// fragments returns the input and its digit runs of length >= 2 (e.g. the
// date part), any of which would leak personal data.
func fragments(s string) []string {
	out := []string{s}
	start := -1
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start >= 2 {
			out = append(out, s[start:i])
		}
		start = -1
	}
	return out
}

func TestZeroCode(t *testing.T) {
	var c Code
	if c.String() != "" {
		t.Errorf("zero Code String() = %q", c.String())
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range validCodes {
		f.Add(s)
	}
	for _, tt := range invalidCodes {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, want *Error", err)
			}
			if in := strings.TrimSpace(s); len(in) >= 6 && strings.Contains(err.Error(), in) {
				t.Fatalf("error %q echoes input", err)
			}
			return
		}
		str := c.String()
		if len(str) != 11 {
			t.Fatalf("String() = %q, want 11 characters", str)
		}
		c2, err := Parse(str)
		if err != nil {
			t.Fatalf("Parse(String()) of %q: %v", str, err)
		}
		if c2 != c {
			t.Fatalf("Parse(String()) = %+v, want %+v", c2, c)
		}
	})
}

// TestMake: a made code parses back to the same birth date, individual
// number and sex.
func TestMake(t *testing.T) {
	for _, c := range []struct {
		birth time.Time
		ind   int
	}{{time.Date(1952, 10, 13, 0, 0, 0, 0, time.UTC), 308}, {time.Date(2004, 2, 29, 0, 0, 0, 0, time.UTC), 901}, {time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), 998}} {
		code, err := Make(c.birth, c.ind)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(code.String())
		if err != nil || !back.BirthDate().Equal(c.birth) || back.individual != c.ind {
			t.Errorf("%v %d: %s parses to %+v, %v", c.birth, c.ind, code, back, err)
		}
	}
	if got, _ := Make(time.Date(1952, 10, 13, 0, 0, 0, 0, time.UTC), 308); got.String() != "131052-308T" {
		t.Errorf("the known code: %s", got)
	}
	if _, err := Make(time.Date(1852, 1, 1, 0, 0, 0, 0, time.UTC), 900); err == nil {
		t.Error("1852 made a code")
	}
}
