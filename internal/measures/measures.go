// Package measures implements the outcome questionnaires a therapist uses to
// follow a client's symptoms over time (routine outcome monitoring): the
// PHQ-9 for depression and the GAD-7 for anxiety.
//
// Scoring follows the published instruments exactly: every item is answered
// 0-3, the total is the plain sum of the item answers, and the severity bands
// are the published cut-offs (Kroenke, Spitzer & Williams 2001; Spitzer et
// al. 2006). Nothing is pro-rated, imputed or re-weighted: an incomplete or
// out-of-range answer set is rejected rather than scored, because a wrong
// total in a clinical record is worse than no total.
//
// The package also renders a score history as a self-contained, accessible
// inline SVG chart (see TrendSVG).
package measures

import (
	"strconv"
	"strings"
)

// Instrument identifies a questionnaire.
type Instrument string

const (
	// PHQ9 is the Patient Health Questionnaire-9 (Kroenke, Spitzer &
	// Williams 2001): 9 items scored 0-3, total 0-27.
	PHQ9 Instrument = "PHQ-9"
	// GAD7 is the Generalized Anxiety Disorder-7 scale (Spitzer et al.
	// 2006): 7 items scored 0-3, total 0-21.
	GAD7 Instrument = "GAD-7"
)

// Severity band keys, as stored in Result.Severity.
const (
	SeverityMinimal          = "minimal"
	SeverityMild             = "mild"
	SeverityModerate         = "moderate"
	SeverityModeratelySevere = "moderately-severe" // PHQ-9 only
	SeveritySevere           = "severe"
)

// Error is returned for invalid input. Its message never echoes the input
// (answers are health data and must not leak into logs).
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

func errorf(msg string) error { return &Error{msg: "measures: " + msg} }

// band is one published severity range, inclusive at both ends.
type band struct {
	key    string
	lo, hi int
}

// instrument holds everything the package knows about one questionnaire.
type instrument struct {
	name       Instrument
	items      int
	max        int
	bands      []band
	selfHarmIx int // 0-based index of the self-harm item, or -1
}

const (
	minAnswer = 0
	maxAnswer = 3
)

var phq9 = &instrument{
	name:  PHQ9,
	items: 9,
	max:   27,
	bands: []band{
		{SeverityMinimal, 0, 4},
		{SeverityMild, 5, 9},
		{SeverityModerate, 10, 14},
		{SeverityModeratelySevere, 15, 19},
		{SeveritySevere, 20, 27},
	},
	selfHarmIx: 8,
}

var gad7 = &instrument{
	name:  GAD7,
	items: 7,
	max:   21,
	bands: []band{
		{SeverityMinimal, 0, 4},
		{SeverityMild, 5, 9},
		{SeverityModerate, 10, 14},
		{SeveritySevere, 15, 21},
	},
	selfHarmIx: -1,
}

func lookup(in Instrument) (*instrument, error) {
	switch in {
	case PHQ9:
		return phq9, nil
	case GAD7:
		return gad7, nil
	}
	return nil, errorf("unknown instrument")
}

// severity returns the band key for a total that is already known to be in
// 0..max.
func (def *instrument) severity(total int) string {
	for _, b := range def.bands {
		if total >= b.lo && total <= b.hi {
			return b.key
		}
	}
	return ""
}

// ParseInstrument accepts the canonical names ("PHQ-9", "GAD-7") and common
// spellings ignoring case, spaces, hyphens and underscores ("phq9", "gad_7").
// The error does not echo the input.
func ParseInstrument(s string) (Instrument, error) {
	norm := strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', ' ', '\t':
			return -1
		}
		return r
	}, strings.ToLower(s))
	switch norm {
	case "phq9":
		return PHQ9, nil
	case "gad7":
		return GAD7, nil
	}
	return "", errorf("unknown instrument; expected PHQ-9 or GAD-7")
}

// Result of scoring.
type Result struct {
	Instrument Instrument
	Total      int
	// Severity is the band key: "minimal", "mild", "moderate",
	// "moderately-severe" (PHQ-9 only) or "severe".
	Severity string
	// SelfHarm is true when PHQ-9 item 9 ("thoughts that you would be better
	// off dead, or of hurting yourself") was answered above 0. It must be
	// shown prominently to the clinician regardless of the total. Always
	// false for GAD-7.
	SelfHarm bool
}

// Score validates answers (exactly 9 values for PHQ-9 or 7 for GAD-7, each
// 0..3) and returns the total, severity band and self-harm flag. Invalid input
// gives an *Error whose message does not echo the input.
//
// PHQ-9 bands: 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19 moderately
// severe, 20-27 severe. GAD-7 bands: 0-4 minimal, 5-9 mild, 10-14 moderate,
// 15-21 severe.
func Score(in Instrument, answers []int) (Result, error) {
	def, err := lookup(in)
	if err != nil {
		return Result{}, err
	}
	if len(answers) != def.items {
		return Result{}, errorf(string(def.name) + " requires exactly " + strconv.Itoa(def.items) + " answers, one per item")
	}
	total := 0
	for _, a := range answers {
		if a < minAnswer || a > maxAnswer {
			return Result{}, errorf(string(def.name) + ": every answer must be a whole number from 0 (not at all) to 3 (nearly every day)")
		}
		total += a
	}
	return Result{
		Instrument: def.name,
		Total:      total,
		Severity:   def.severity(total),
		SelfHarm:   def.selfHarmIx >= 0 && answers[def.selfHarmIx] > 0,
	}, nil
}

var severityLabels = map[string][2]string{ // key → {en, fi}
	SeverityMinimal:          {"Minimal", "Vähäinen"},
	SeverityMild:             {"Mild", "Lievä"},
	SeverityModerate:         {"Moderate", "Keskivaikea"},
	SeverityModeratelySevere: {"Moderately severe", "Melko vaikea"},
	SeveritySevere:           {"Severe", "Vaikea"},
}

// SeverityLabel returns the band's display label in "en" or "fi" (any other
// language gives English). An unknown key is returned unchanged.
func SeverityLabel(severity, lang string) string {
	l, ok := severityLabels[severity]
	if !ok {
		return severity
	}
	if isFinnish(lang) {
		return l[1]
	}
	return l[0]
}

// isFinnish reports whether lang selects Finnish ("fi", "FI", "fi-FI").
func isFinnish(lang string) bool {
	l := strings.ToLower(strings.TrimSpace(lang))
	return l == "fi" || strings.HasPrefix(l, "fi-") || strings.HasPrefix(l, "fi_")
}
