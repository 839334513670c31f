package measures

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// answersFor builds n answers (each 0..3) summing to total, filling from the
// first item and leaving the item at selfHarmIx (if >= 0) at 0 unless the
// total cannot be reached otherwise.
func answersFor(t *testing.T, n, total, keepZero int) []int {
	t.Helper()
	a := make([]int, n)
	rest := total
	order := make([]int, 0, n)
	for i := 0; i < n; i++ {
		if i != keepZero {
			order = append(order, i)
		}
	}
	if keepZero >= 0 {
		order = append(order, keepZero)
	}
	for _, i := range order {
		v := min(rest, 3)
		a[i] = v
		rest -= v
	}
	if rest != 0 {
		t.Fatalf("cannot build %d answers summing to %d", n, total)
	}
	return a
}

func TestScoreBandBoundaries(t *testing.T) {
	tests := []struct {
		in       Instrument
		total    int
		severity string
	}{
		{PHQ9, 0, "minimal"},
		{PHQ9, 4, "minimal"},
		{PHQ9, 5, "mild"},
		{PHQ9, 9, "mild"},
		{PHQ9, 10, "moderate"},
		{PHQ9, 14, "moderate"},
		{PHQ9, 15, "moderately-severe"},
		{PHQ9, 19, "moderately-severe"},
		{PHQ9, 20, "severe"},
		{PHQ9, 27, "severe"},
		{GAD7, 0, "minimal"},
		{GAD7, 4, "minimal"},
		{GAD7, 5, "mild"},
		{GAD7, 9, "mild"},
		{GAD7, 10, "moderate"},
		{GAD7, 14, "moderate"},
		{GAD7, 15, "severe"},
		{GAD7, 21, "severe"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d", tc.in, tc.total), func(t *testing.T) {
			n, keep := 9, 8
			if tc.in == GAD7 {
				n, keep = 7, -1
			}
			ans := answersFor(t, n, tc.total, keep)
			r, err := Score(tc.in, ans)
			if err != nil {
				t.Fatalf("Score(%v): %v", ans, err)
			}
			if r.Instrument != tc.in || r.Total != tc.total || r.Severity != tc.severity {
				t.Errorf("Score(%v) = %+v, want total %d severity %q", ans, r, tc.total, tc.severity)
			}
			wantSelfHarm := tc.in == PHQ9 && ans[8] > 0
			if r.SelfHarm != wantSelfHarm {
				t.Errorf("SelfHarm = %v, want %v", r.SelfHarm, wantSelfHarm)
			}
		})
	}
}

func TestScoreSelfHarmFlag(t *testing.T) {
	tests := []struct {
		name    string
		in      Instrument
		answers []int
		want    bool
	}{
		{"phq9 item9 zero", PHQ9, []int{3, 3, 3, 3, 3, 3, 3, 3, 0}, false},
		{"phq9 item9 one", PHQ9, []int{0, 0, 0, 0, 0, 0, 0, 0, 1}, true},
		{"phq9 item9 three", PHQ9, []int{0, 0, 0, 0, 0, 0, 0, 0, 3}, true},
		{"phq9 all zero", PHQ9, []int{0, 0, 0, 0, 0, 0, 0, 0, 0}, false},
		{"gad7 never flags", GAD7, []int{3, 3, 3, 3, 3, 3, 3}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Score(tc.in, tc.answers)
			if err != nil {
				t.Fatal(err)
			}
			if r.SelfHarm != tc.want {
				t.Errorf("SelfHarm = %v, want %v", r.SelfHarm, tc.want)
			}
		})
	}
	// Item 9 counts in the total and a minimal total still flags.
	r, _ := Score(PHQ9, []int{0, 0, 0, 0, 0, 0, 0, 0, 1})
	if r.Total != 1 || r.Severity != "minimal" || !r.SelfHarm {
		t.Errorf("got %+v", r)
	}
}

func TestScoreInvalid(t *testing.T) {
	tests := []struct {
		name    string
		in      Instrument
		answers []int
		bad     []string // substrings the message must not contain
	}{
		{"phq9 nil", PHQ9, nil, nil},
		{"phq9 empty", PHQ9, []int{}, nil},
		{"phq9 8 answers", PHQ9, []int{1, 1, 1, 1, 1, 1, 1, 1}, []string{"8"}},
		{"phq9 10 answers", PHQ9, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, []string{"10"}},
		{"phq9 gad7-length", PHQ9, []int{2, 2, 2, 2, 2, 2, 2}, nil},
		{"gad7 6 answers", GAD7, []int{1, 1, 1, 1, 1, 1}, []string{"6"}},
		{"gad7 8 answers", GAD7, []int{1, 1, 1, 1, 1, 1, 1, 1}, []string{"8"}},
		{"gad7 phq9-length", GAD7, []int{2, 2, 2, 2, 2, 2, 2, 2, 2}, nil},
		{"phq9 value -1", PHQ9, []int{0, 0, 0, 0, -1, 0, 0, 0, 0}, []string{"-1"}},
		{"phq9 value 4", PHQ9, []int{0, 0, 0, 0, 0, 0, 0, 0, 4}, []string{"4"}},
		{"phq9 value huge", PHQ9, []int{0, 0, 0, 0, 0, 0, 0, 0, 987654}, []string{"987654"}},
		{"gad7 value -1", GAD7, []int{-1, 0, 0, 0, 0, 0, 0}, []string{"-1"}},
		{"gad7 value 4", GAD7, []int{0, 0, 0, 0, 0, 0, 4}, []string{"4"}},
		{"unknown instrument", Instrument("BDI-II<script>"), []int{0, 0, 0}, []string{"BDI", "<script>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Score(tc.in, tc.answers)
			if err == nil {
				t.Fatalf("Score(%v) = %+v, want error", tc.answers, r)
			}
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("error %T is not *Error", err)
			}
			msg := err.Error()
			if msg == "" || msg == "measures: " {
				t.Fatalf("empty error message")
			}
			if r != (Result{}) {
				t.Errorf("result not zero on error: %+v", r)
			}
			if len(tc.answers) > 0 && strings.Contains(msg, fmt.Sprint(tc.answers)) {
				t.Errorf("message %q echoes the answers", msg)
			}
			for _, b := range tc.bad {
				if strings.Contains(msg, b) {
					t.Errorf("message %q contains input %q", msg, b)
				}
			}
		})
	}
}

func TestParseInstrument(t *testing.T) {
	good := map[string]Instrument{
		"PHQ-9": PHQ9, "phq9": PHQ9, " phq_9 ": PHQ9, "Phq 9": PHQ9,
		"GAD-7": GAD7, "gad7": GAD7, "GAD_7": GAD7,
	}
	for s, want := range good {
		got, err := ParseInstrument(s)
		if err != nil || got != want {
			t.Errorf("ParseInstrument(%q) = %q, %v; want %q", s, got, err, want)
		}
	}
	for _, s := range []string{"", "phq", "PHQ-2", "gad-77", "secret<b>"} {
		_, err := ParseInstrument(s)
		var me *Error
		if !errors.As(err, &me) {
			t.Errorf("ParseInstrument(%q) error = %v, want *Error", s, err)
			continue
		}
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q echoes input", err)
		}
	}
}

func TestItems(t *testing.T) {
	for _, tc := range []struct {
		in Instrument
		n  int
	}{{PHQ9, 9}, {GAD7, 7}} {
		var prevStem string
		for _, lang := range []string{"en", "fi"} {
			stem, items, opts, err := Items(tc.in, lang)
			if err != nil {
				t.Fatalf("Items(%s, %s): %v", tc.in, lang, err)
			}
			if stem == "" || stem == prevStem {
				t.Errorf("Items(%s, %s): stem %q empty or not translated", tc.in, lang, stem)
			}
			prevStem = stem
			if len(items) != tc.n {
				t.Errorf("Items(%s, %s): %d items, want %d", tc.in, lang, len(items), tc.n)
			}
			if len(opts) != 4 {
				t.Errorf("Items(%s, %s): %d options, want 4", tc.in, lang, len(opts))
			}
			for i, it := range items {
				if strings.TrimSpace(it) == "" {
					t.Errorf("Items(%s, %s): item %d empty", tc.in, lang, i+1)
				}
			}
		}
	}
	_, _, en, _ := Items(PHQ9, "en")
	want := []string{"Not at all", "Several days", "More than half the days", "Nearly every day"}
	if strings.Join(en, "|") != strings.Join(want, "|") {
		t.Errorf("en options = %q", en)
	}
	_, items, _, _ := Items(PHQ9, "en")
	if !strings.HasPrefix(items[8], "Thoughts that you would be better off dead") {
		t.Errorf("PHQ-9 item 9 = %q", items[8])
	}
	// Other languages fall back to English.
	s1, _, _, _ := Items(GAD7, "sv")
	s2, _, _, _ := Items(GAD7, "en")
	if s1 != s2 {
		t.Errorf("lang sv did not fall back to en")
	}
	// Returned slices are copies.
	_, items, opts, _ := Items(GAD7, "en")
	items[0], opts[0] = "changed", "changed"
	_, items2, opts2, _ := Items(GAD7, "en")
	if items2[0] == "changed" || opts2[0] == "changed" {
		t.Errorf("Items returned shared package state")
	}
	if _, _, _, err := Items("nope", "en"); err == nil {
		t.Errorf("Items(unknown) gave no error")
	}
}

func TestSeverityLabel(t *testing.T) {
	for _, key := range []string{"minimal", "mild", "moderate", "moderately-severe", "severe"} {
		en, fi := SeverityLabel(key, "en"), SeverityLabel(key, "fi")
		if en == "" || fi == "" || en == key || en == fi {
			t.Errorf("labels for %q: en %q fi %q", key, en, fi)
		}
		if SeverityLabel(key, "de") != en {
			t.Errorf("lang de did not fall back to en for %q", key)
		}
	}
	if got := SeverityLabel("moderately-severe", "en"); got != "Moderately severe" {
		t.Errorf("got %q", got)
	}
}

func FuzzScore(f *testing.F) {
	f.Add(false, []byte{0, 1, 2, 3, 0, 1, 2, 3, 1})
	f.Add(true, []byte{3, 3, 3, 3, 3, 3, 3})
	f.Add(false, []byte{})
	f.Add(true, []byte{255, 4, 0})
	f.Fuzz(func(t *testing.T, gad bool, data []byte) {
		in := PHQ9
		if gad {
			in = GAD7
		}
		answers := make([]int, len(data))
		for i, b := range data {
			answers[i] = int(int8(b)) // includes negatives and values > 3
		}
		r, err := Score(in, answers)
		if err != nil {
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("error %T is not *Error", err)
			}
			for _, a := range answers {
				if (a < 0 || a > 3) && strings.Contains(err.Error(), strconv.Itoa(a)) &&
					!strings.Contains(in2msg(in), strconv.Itoa(a)) {
					t.Fatalf("message %q echoes value %d", err, a)
				}
			}
			return
		}
		max := 27
		if gad {
			max = 21
		}
		if r.Total < 0 || r.Total > max || r.Severity == "" {
			t.Fatalf("bad result %+v for %v", r, answers)
		}
		sum := 0
		for _, a := range answers {
			if a < 0 || a > 3 {
				t.Fatalf("accepted out-of-range answer in %v", answers)
			}
			sum += a
		}
		if sum != r.Total {
			t.Fatalf("total %d != sum %d", r.Total, sum)
		}
		if _, err := TrendSVG(in, []Point{{Total: r.Total}}, "fi"); err != nil {
			t.Fatalf("TrendSVG of valid total: %v", err)
		}
	})
}

// in2msg is the fixed text that may legitimately contain digits (the
// instrument name and the 0..3 range), so the fuzz check does not flag it.
func in2msg(in Instrument) string { return string(in) + " 0 3" }
