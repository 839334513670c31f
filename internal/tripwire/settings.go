package tripwire

import (
	"errors"
	"fmt"
	"math"
	"time"
	_ "time/tzdata" // Europe/Helsinki on machines without a zone database
)

// Settings are a clinic's tripwire limits. Start from DefaultSettings and
// change what the clinic's settings page changes; New and SetSettings
// refuse settings that fail Validate.
type Settings struct {
	// ChartLimit is how many distinct patients' records an account may
	// open in any sliding ChartWindow.
	ChartLimit  int
	ChartWindow time.Duration

	// DirectoryLimit is how many distinct patients an account may see in
	// search results, demographics and calendars in any sliding
	// DirectoryWindow.
	DirectoryLimit  int
	DirectoryWindow time.Duration

	// CalendarLimit is how many distinct patients an account may see in
	// calendars in any sliding DirectoryWindow. Calendars get a limit of
	// their own: a clinic's week view lists every booked patient at once,
	// names and times only, where a directory sweep wants contacts.
	CalendarLimit int

	// AuditLimit is how many distinct patients the audit log may name to
	// one account (admin, auditor) in any sliding AuditWindow: the log
	// says who treats whom.
	AuditLimit  int
	AuditWindow time.Duration

	// A baseline alert is raised when the distinct patients whose records
	// an account opened in the current hour exceed both BaselineFactor
	// times the account's busiest hour of the last 30 days and
	// BaselineFloor, once the account has BaselineDays days of history.
	BaselineFactor float64
	BaselineFloor  int
	BaselineDays   int

	// WorkHours are the clinic's opening hours; reads outside them raise
	// an offhours alert.
	WorkHours Hours

	// RateLimit is how many requests (Admit batches) one credential may
	// make in any sliding RateWindow: faster is not a person.
	RateLimit  int
	RateWindow time.Duration

	// Disabled is the kill switch: Admit then releases everything and
	// raises nothing (events are still counted, as Observe counts them).
	Disabled bool
}

// Hours are working hours in a time zone.
type Hours struct {
	Location *time.Location // required
	Days     [7]Span        // indexed by time.Weekday: Days[time.Monday]
}

// Span is one day's working time in minutes after local midnight, from
// Start (included) to End (excluded), as the wall clock shows them. The
// zero Span is a closed day.
type Span struct {
	Start, End int
}

// Contains reports whether t falls inside the working hours, read on the
// wall clock of h.Location (so 07:00 is 07:00 in summer and in winter).
func (h Hours) Contains(t time.Time) bool {
	loc := h.Location
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	sp := h.Days[t.Weekday()]
	hh, mm, _ := t.Clock()
	m := hh*60 + mm
	return sp.Start <= m && m < sp.End
}

// DefaultSettings returns the defaults: 30 charts and 200 directory rows
// in 10 minutes; 300 patients named by audit log reads in 10 minutes;
// baseline 3 × the busiest hour, over 15, after 7 days;
// working hours Monday to Friday 07:00–20:00 and Saturday 09:00–15:00 in
// Europe/Helsinki, closed on Sunday; 120 requests a minute per credential.
func DefaultSettings() Settings {
	hel, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		panic(err) // time/tzdata is embedded
	}
	h := Hours{Location: hel}
	for d := time.Monday; d <= time.Friday; d++ {
		h.Days[d] = Span{7 * 60, 20 * 60}
	}
	h.Days[time.Saturday] = Span{9 * 60, 15 * 60}
	return Settings{
		ChartLimit:      30,
		ChartWindow:     10 * time.Minute,
		DirectoryLimit:  200,
		DirectoryWindow: 10 * time.Minute,
		CalendarLimit:   1000,
		AuditLimit:      300,
		AuditWindow:     10 * time.Minute,
		BaselineFactor:  3,
		BaselineFloor:   15,
		BaselineDays:    7,
		WorkHours:       h,
		RateLimit:       120,
		RateWindow:      time.Minute,
	}
}

// Bounds checked by Validate.
const (
	MaxLimit  = 100000
	MinWindow = time.Minute
	MaxWindow = 24 * time.Hour
)

// Validate reports every setting that is out of range, in words a clinic
// administrator can act on.
func (s Settings) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("tripwire: "+format, args...))
	}
	limit := func(name string, v int) {
		if v < 1 || v > MaxLimit {
			bad("%s is %d; it must be from 1 to %d", name, v, MaxLimit)
		}
	}
	window := func(name string, v time.Duration) {
		if v < MinWindow || v > MaxWindow {
			bad("%s is %v; it must be from %v to %v", name, v, MinWindow, MaxWindow)
		}
	}
	limit("the chart limit", s.ChartLimit)
	window("the chart window", s.ChartWindow)
	limit("the directory limit", s.DirectoryLimit)
	window("the directory window", s.DirectoryWindow)
	limit("the calendar limit", s.CalendarLimit)
	limit("the audit limit", s.AuditLimit)
	window("the audit window", s.AuditWindow)
	limit("the request rate limit", s.RateLimit)
	window("the request rate window", s.RateWindow)
	limit("the baseline floor", s.BaselineFloor)
	if !(s.BaselineFactor >= 1) || math.IsInf(s.BaselineFactor, 0) {
		bad("the baseline factor is %v; it must be a number of at least 1", s.BaselineFactor)
	}
	if s.BaselineDays < 1 || s.BaselineDays > baselineHours/24 {
		bad("the baseline history is %d days; it must be from 1 to %d", s.BaselineDays, baselineHours/24)
	}
	if s.WorkHours.Location == nil {
		bad("the working hours have no time zone")
	}
	for d, sp := range s.WorkHours.Days {
		if sp == (Span{}) {
			continue // closed
		}
		switch {
		case sp.Start < 0 || sp.Start > 24*60 || sp.End < 0 || sp.End > 24*60:
			bad("the working hours on %v (minutes %d to %d) must lie within 0 to 1440 (00:00 to 24:00)", time.Weekday(d), sp.Start, sp.End)
		case sp.Start >= sp.End:
			bad("the working hours on %v start at %s and end at %s; the start must come before the end", time.Weekday(d), clock(sp.Start), clock(sp.End))
		}
	}
	return errors.Join(errs...)
}

func clock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }
