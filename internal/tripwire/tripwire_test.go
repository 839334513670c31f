package tripwire_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/tripwire"
)

var hel = tripwire.DefaultSettings().WorkHours.Location

// monday is 10:00 on a working Monday in Helsinki.
var monday = time.Date(2026, 3, 2, 10, 0, 0, 0, hel)

func newDetector(t testing.TB, s tripwire.Settings, canaries ...string) *tripwire.Detector {
	t.Helper()
	d, err := tripwire.New(s, func(id string) bool { return slices.Contains(canaries, id) })
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// ev is one event of clinician "c1" through session "s1" from 192.0.2.1.
func ev(action, patient string, at time.Time) tripwire.Event {
	return tripwire.Event{Time: at, Account: "c1", Role: "clinician", Patient: patient, Action: action,
		Credential: "s1", Addr: "192.0.2.1"}
}

// opens is one request opening the charts of patients.
func opens(at time.Time, patients ...string) []tripwire.Event {
	var evs []tripwire.Event
	for _, p := range patients {
		evs = append(evs, ev("chart.read", p, at))
	}
	return evs
}

// rows is one request listing patients with action.
func rows(action string, at time.Time, patients ...string) []tripwire.Event {
	var evs []tripwire.Event
	for _, p := range patients {
		evs = append(evs, ev(action, p, at))
	}
	return evs
}

// ids returns prefix+i for i in [from, to).
func ids(prefix string, from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, fmt.Sprint(prefix, i))
	}
	return s
}

func kinds(d tripwire.Decision) []tripwire.Kind {
	var k []tripwire.Kind
	for _, a := range d.Alerts {
		k = append(k, a.Kind)
	}
	return k
}

// step is one request and what Admit should answer.
type step struct {
	evs         []tripwire.Event
	wantAllowed int
	wantKinds   []tripwire.Kind
}

// one opens each patient in its own request, at the same time, all allowed.
func one(at time.Time, patients ...string) []step {
	var s []step
	for _, p := range patients {
		s = append(s, step{opens(at, p), 1, nil})
	}
	return s
}

func run(t *testing.T, d *tripwire.Detector, steps []step) {
	t.Helper()
	for i, st := range steps {
		got := d.Admit(st.evs)
		if got.Allowed != st.wantAllowed || !slices.Equal(kinds(got), st.wantKinds) {
			t.Fatalf("request %d (%d events): Allowed %d, alerts %v; want %d, %v", i, len(st.evs),
				got.Allowed, kinds(got), st.wantAllowed, st.wantKinds)
		}
	}
}

var (
	charts    = []tripwire.Kind{tripwire.KindCharts}
	directory = []tripwire.Kind{tripwire.KindDirectory}
	canary    = []tripwire.Kind{tripwire.KindCanary}
)

func TestChartLimit(t *testing.T) {
	t0 := monday
	mins := func(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }
	tests := []struct {
		name  string
		steps []step
	}{
		{"under the limit", one(t0, ids("p", 0, 29)...)},
		{"the 30th is admitted, the 31st refused", append(one(t0, ids("p", 0, 30)...),
			step{opens(t0, "p30"), 0, charts},
			step{opens(t0, "p0"), 0, nil}, // frozen: nothing more, no second alert
		)},
		{"a request crossing the limit is cut there", []step{
			{opens(t0, ids("p", 0, 25)...), 25, nil},
			{opens(mins(1), ids("p", 20, 35)...), 10, charts}, // p20..p24 again, p25..p29 new, p30 refused
		}},
		{"re-opens do not count", append(one(t0, ids("p", 0, 30)...),
			step{append(opens(mins(1), ids("p", 0, 30)...), ev("note.read", "p3", mins(2)), ev("measure.read", "p4", mins(3)),
				ev("diagnosis.read", "p5", mins(4)), ev("processnote.read", "p6", mins(5)), ev("careteam.read", "p7", mins(6))), 35, nil},
			step{[]tripwire.Event{ev("note.read", "p30", mins(7))}, 0, charts},
		)},
		{"the window slides", slices.Concat(
			one(t0, ids("p", 0, 15)...),
			one(mins(5), ids("p", 15, 30)...),
			[]step{{opens(mins(9.99), "x"), 0, charts}},
		)},
		{"after ten minutes the oldest drop out", slices.Concat(
			one(t0, ids("p", 0, 15)...),
			one(mins(5), ids("p", 15, 30)...),
			one(mins(10), ids("q", 0, 15)...), // p0..p14 are 10 minutes old: out
			[]step{{opens(mins(10), "x"), 0, charts}},
		)},
		{"a re-open keeps a patient in the window", slices.Concat(
			one(t0, "a"),
			one(mins(1), ids("p", 0, 29)...),
			one(mins(9), "a"),
			one(mins(11), ids("q", 0, 29)...), // p0..p28 out, a still in
			[]step{{opens(mins(11), "x"), 0, charts}},
		)},
		{"events without a patient or of other kinds do not count", slices.Concat(
			one(t0, ids("p", 0, 30)...),
			[]step{{[]tripwire.Event{ev("chart.read", "", t0), ev("note.create", "x", t0), ev("audit.read", "y", t0),
				ev("patient.list", "z", t0)}, 4, nil}},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, newDetector(t, tripwire.DefaultSettings()), tt.steps)
		})
	}
}

func TestDirectoryLimit(t *testing.T) {
	t0 := monday
	tests := []struct {
		name  string
		steps []step
	}{
		{"a listing of 500 is cut at row 200", []step{
			{rows("patient.list", t0, ids("p", 0, 500)...), 200, directory},
		}},
		{"overlapping listings count each patient once", []step{
			{rows("patient.list", t0, ids("p", 0, 150)...), 150, nil},
			{rows("patient.list", t0, ids("p", 0, 150)...), 150, nil},
			{rows("patient.list", t0, ids("p", 100, 200)...), 100, nil},
			{rows("patient.read", t0, "p199"), 1, nil},
			{rows("patient.list", t0, "p5", "p6", "new", "p7"), 2, directory},
		}},
		{"calendars have a limit of their own", []step{
			{rows("patient.list", t0, ids("p", 0, 200)...), 200, nil},
			{rows("appointment.list", t0, ids("q", 0, 210)...), 210, nil}, // a big clinic's week
			{rows("appointment.list", t0, ids("r", 0, 1000)...), 790, []tripwire.Kind{tripwire.KindCalendar}},
		}},
		{"the window slides", []step{
			{rows("patient.list", t0, ids("p", 0, 200)...), 200, nil},
			{rows("patient.list", t0.Add(10*time.Minute), ids("q", 0, 200)...), 200, nil},
		}},
		{"chart opens are counted apart", []step{
			{rows("patient.list", t0, ids("p", 0, 200)...), 200, nil},
			{opens(t0, ids("q", 0, 30)...), 30, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, newDetector(t, tripwire.DefaultSettings()), tt.steps)
		})
	}
}

// TestAuditReadLimit: patients named by audit log reads count toward a
// limit of their own; the read that would name one too many is refused and
// freezes; a patient reading their own trail is not counted; a canary
// named in the log is no canary alert (auditors read alert.canary events).
func TestAuditReadLimit(t *testing.T) {
	t0 := monday
	portal := func(evs []tripwire.Event) []tripwire.Event {
		for i := range evs {
			evs[i].Role = "patient"
		}
		return evs
	}
	audit := []tripwire.Kind{tripwire.KindAudit}
	tests := []struct {
		name  string
		steps []step
	}{
		{"pages of the log are cut at patient 300", []step{
			{rows("audit.read", t0, ids("p", 0, 200)...), 200, nil},
			{rows("audit.read", t0, ids("p", 150, 350)...), 150, audit}, // 50 seen, 100 new
			{rows("audit.read", t0, "p1"), 0, nil},                      // frozen
		}},
		{"audit rows are counted apart from directory rows", []step{
			{rows("patient.list", t0, ids("p", 0, 200)...), 200, nil},
			{rows("audit.read", t0, ids("q", 0, 300)...), 300, nil},
		}},
		{"the window slides", []step{
			{rows("audit.read", t0, ids("p", 0, 300)...), 300, nil},
			{rows("audit.read", t0.Add(10*time.Minute), ids("q", 0, 300)...), 300, nil},
		}},
		{"a patient's own trail is not counted", []step{
			{portal(rows("audit.read", t0, ids("p", 0, 400)...)), 400, nil},
		}},
		{"a canary named in the log is not a canary alert", []step{
			{rows("audit.read", t0, "p1", "canary", "p2"), 3, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, newDetector(t, tripwire.DefaultSettings(), "canary"), tt.steps)
		})
	}
}

func TestCanary(t *testing.T) {
	t0 := monday
	operator := func(e tripwire.Event) tripwire.Event { e.Role = "operator"; return e }
	portal := func(e tripwire.Event) tripwire.Event { e.Role = "patient"; return e }
	tests := []struct {
		name        string
		evs         []tripwire.Event
		wantAllowed int
		wantKinds   []tripwire.Kind
	}{
		{"chart open", opens(t0, "p1", "p2", "canary", "p3"), 2, canary},
		{"note open", []tripwire.Event{ev("note.read", "canary", t0)}, 0, canary},
		{"process note open", []tripwire.Event{ev("processnote.read", "canary", t0)}, 0, canary},
		{"demographics", rows("patient.read", t0, "p1", "canary"), 1, canary},
		{"by the operator", []tripwire.Event{operator(ev("chart.read", "canary", t0))}, 0, canary},
		{"through the portal", []tripwire.Event{portal(ev("patient.read", "canary", t0))}, 0, canary},
		{"in a search", rows("patient.list", t0, "p1", "canary", "p2"), 3, nil},
		{"in a calendar", rows("appointment.list", t0, "canary", "p1"), 2, nil},
		{"a write", []tripwire.Event{ev("note.create", "canary", t0)}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, tripwire.DefaultSettings(), "canary")
			got := d.Admit(tt.evs)
			if got.Allowed != tt.wantAllowed || !slices.Equal(kinds(got), tt.wantKinds) {
				t.Fatalf("Allowed %d, alerts %v; want %d, %v", got.Allowed, kinds(got), tt.wantAllowed, tt.wantKinds)
			}
			if len(got.Alerts) == 1 {
				a := got.Alerts[0]
				if a.Patient != "canary" || !a.Freeze || a.Severity != tripwire.Critical {
					t.Errorf("alert %+v: want Patient canary, Freeze, critical", a)
				}
			}
		})
	}
}

func TestAlertFields(t *testing.T) {
	d := newDetector(t, tripwire.DefaultSettings(), "canary")
	var evs []tripwire.Event
	for i, p := range ids("p", 0, 31) {
		e := ev("chart.read", p, monday.Add(time.Duration(i)*time.Second))
		e.Index = int64(100 + i)
		evs = append(evs, e, e) // each patient twice: the first index counts
		evs[len(evs)-1].Index = int64(1000 + i)
	}
	got := d.Admit(evs)
	if got.Allowed != 60 || len(got.Alerts) != 1 {
		t.Fatalf("Allowed %d, alerts %v; want 60 and one alert", got.Allowed, got.Alerts)
	}
	want := tripwire.Alert{Kind: tripwire.KindCharts, Severity: tripwire.Critical, Account: "c1", Count: 31, Limit: 30,
		Window: 10 * time.Minute, At: monday.Add(30 * time.Second), Freeze: true}
	for i := range 31 {
		want.Indexes = append(want.Indexes, int64(100+i))
	}
	a := got.Alerts[0]
	if !a.At.Equal(want.At) {
		t.Errorf("At %v, want %v", a.At, want.At)
	}
	a.At = want.At
	if fmt.Sprint(a) != fmt.Sprint(want) {
		t.Errorf("alert\n%+v\nwant\n%+v", a, want)
	}
}

func TestFreezeUntilForget(t *testing.T) {
	d := newDetector(t, tripwire.DefaultSettings(), "canary")
	other := func(evs []tripwire.Event) []tripwire.Event {
		for i := range evs {
			evs[i].Account, evs[i].Credential = "c2", "s2"
		}
		return evs
	}
	run(t, d, []step{
		{opens(monday, "p1", "canary"), 1, canary},
		{opens(monday, "p1"), 0, nil},
		{[]tripwire.Event{ev("login", "", monday)}, 0, nil},
		{opens(monday.Add(time.Hour), "p2"), 0, nil},
		{opens(monday.Add(time.Hour), "canary"), 0, nil}, // no duplicate alert
		{other(opens(monday, "p1")), 1, nil},             // other accounts go on
	})
	d.Forget("c1")
	run(t, d, slices.Concat(
		[]step{{opens(monday.Add(time.Hour), "p2"), 1, nil}},
		one(monday.Add(time.Hour), ids("q", 0, 29)...), // old counts dropped: 30 fresh
		[]step{{opens(monday.Add(time.Hour), "x"), 0, charts}},
		[]step{{opens(monday.Add(time.Hour), "y"), 0, nil}},
	))
	d.Forget("nobody") // no state: no effect
}

func TestOffHours(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	local := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, hel)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	def := tripwire.DefaultSettings()
	sundays := tripwire.DefaultSettings()
	sundays.WorkHours.Days[time.Sunday] = tripwire.Span{Start: 9 * 60, End: 15 * 60}
	tests := []struct {
		name    string
		s       tripwire.Settings
		at      time.Time
		action  string
		role    string
		inHours bool
		alert   bool
	}{
		{"Monday 06:59", def, local("2026-03-23 06:59"), "chart.read", "clinician", false, true},
		{"Monday 07:00", def, local("2026-03-23 07:00"), "chart.read", "clinician", true, false},
		{"Friday 19:59", def, local("2026-03-27 19:59"), "patient.list", "reception", true, false},
		{"Friday 20:00", def, local("2026-03-27 20:00"), "patient.list", "reception", false, true},
		{"Saturday 09:00", def, local("2026-03-28 09:00"), "appointment.list", "reception", true, false},
		{"Saturday 15:00", def, local("2026-03-28 15:00"), "patient.read", "admin", false, true},
		{"Sunday noon", def, local("2026-03-22 12:00"), "note.read", "clinician", false, true},
		{"Sunday noon, a write", def, local("2026-03-22 12:00"), "note.create", "clinician", false, false},
		{"Sunday noon, a sign-in", def, local("2026-03-22 12:00"), "login", "clinician", false, false},
		{"Sunday noon, the operator", def, local("2026-03-22 12:00"), "chart.read", "operator", false, false},
		{"Sunday noon, a patient", def, local("2026-03-22 12:00"), "chart.read", "patient", false, false},
		{"04:30Z the Monday before summer time (06:30 EET)", def, utc("2026-03-23T04:30:00Z"), "chart.read", "clinician", false, true},
		{"04:30Z the Monday after summer time began (07:30 EEST)", def, utc("2026-03-30T04:30:00Z"), "chart.read", "clinician", true, false},
		{"04:30Z the Monday before summer time ended (07:30 EEST)", def, utc("2026-10-19T04:30:00Z"), "chart.read", "clinician", true, false},
		{"04:30Z the Monday after summer time ended (06:30 EET)", def, utc("2026-10-26T04:30:00Z"), "chart.read", "clinician", false, true},
		{"17:30Z the Monday before (20:30 EEST)", def, utc("2026-10-19T17:30:00Z"), "chart.read", "clinician", false, true},
		{"17:30Z the Monday after (19:30 EET)", def, utc("2026-10-26T17:30:00Z"), "chart.read", "clinician", true, false},
		{"18:30Z the Monday after (20:30 EET)", def, utc("2026-10-26T18:30:00Z"), "chart.read", "clinician", false, true},
		{"open Sundays: 06:30Z on 2026-03-22 (08:30 EET)", sundays, utc("2026-03-22T06:30:00Z"), "chart.read", "clinician", false, true},
		{"open Sundays: 06:30Z on 2026-03-29, the change (09:30 EEST)", sundays, utc("2026-03-29T06:30:00Z"), "chart.read", "clinician", true, false},
		{"open Sundays: 06:30Z on 2026-10-18 (09:30 EEST)", sundays, utc("2026-10-18T06:30:00Z"), "chart.read", "clinician", true, false},
		{"open Sundays: 06:30Z on 2026-10-25, the change (08:30 EET)", sundays, utc("2026-10-25T06:30:00Z"), "chart.read", "clinician", false, true},
		{"open Sundays: 14:59 on 2026-10-25", sundays, local("2026-10-25 14:59"), "chart.read", "clinician", true, false},
		{"open Sundays: 15:00 on 2026-10-25", sundays, local("2026-10-25 15:00"), "chart.read", "clinician", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.WorkHours.Contains(tt.at); got != tt.inHours {
				t.Errorf("Contains(%v) = %v, want %v", tt.at.In(hel), got, tt.inHours)
			}
			e := ev(tt.action, "p1", tt.at)
			e.Role = tt.role
			got := newDetector(t, tt.s).Admit([]tripwire.Event{e})
			var want []tripwire.Kind
			if tt.alert {
				want = []tripwire.Kind{tripwire.KindOffHours}
			}
			if got.Allowed != 1 || !slices.Equal(kinds(got), want) {
				t.Errorf("Allowed %d, alerts %v; want 1, %v", got.Allowed, kinds(got), want)
			}
		})
	}
}

func TestOffHoursOncePerEightHours(t *testing.T) {
	evening := time.Date(2026, 3, 23, 21, 0, 0, 0, hel)
	off := []tripwire.Kind{tripwire.KindOffHours}
	run(t, newDetector(t, tripwire.DefaultSettings()), []step{
		{opens(evening, "p1"), 1, off},
		{opens(evening.Add(time.Hour), "p2", "p3"), 2, nil},
		{rows("patient.list", evening.Add(7*time.Hour+59*time.Minute), "p4"), 1, nil},
		{opens(evening.Add(8*time.Hour), "p5"), 1, off},
		{opens(evening.Add(8*time.Hour), "p6"), 1, nil},
		{opens(evening.Add(11*time.Hour), "p7"), 1, nil}, // 08:00 Tuesday: working hours
	})
}

// baselineRun builds days of history in which the busiest hour opened
// busiest distinct charts, waits gap days, then opens n new charts in one
// hour and returns which opens (1-based) raised a baseline alert, and which
// raised any other alert.
func baselineRun(t *testing.T, days, busiest, gap, n int, s tripwire.Settings) (baseline, others []int) {
	t.Helper()
	for d := range s.WorkHours.Days {
		s.WorkHours.Days[d] = tripwire.Span{Start: 0, End: 24 * 60} // no offhours alerts here
	}
	dt := newDetector(t, s)
	start := time.Date(2026, 2, 2, 10, 0, 0, 0, hel)
	for day := range days {
		at := start.AddDate(0, 0, day)
		for i := range busiest {
			dt.Observe(opens(at.Add(time.Duration(i)*time.Minute), fmt.Sprint("h", i)))
		}
		dt.Observe(opens(at.Add(3*time.Hour), "h0")) // a quieter hour
	}
	at := start.AddDate(0, 0, days+gap).Add(4 * time.Hour) // 14:00
	for i := range n {
		// All within one hour, under 30 in 10 minutes.
		got := dt.Admit(opens(at.Add(time.Duration(i)*59*time.Minute/time.Duration(n)), fmt.Sprint("new", i)))
		if got.Allowed != 1 {
			t.Fatalf("open %d refused: %v", i+1, got.Alerts)
		}
		for _, a := range got.Alerts {
			if a.Kind == tripwire.KindBaseline {
				baseline = append(baseline, i+1)
			} else {
				others = append(others, i+1)
			}
		}
	}
	return baseline, others
}

func TestBaseline(t *testing.T) {
	s := tripwire.DefaultSettings()
	with := func(f func(*tripwire.Settings)) tripwire.Settings { s := s; f(&s); return s }
	tests := []struct {
		name                  string
		days, busiest, gap, n int
		s                     tripwire.Settings
		want                  []int
	}{
		{"six days of history: none", 6, 5, 0, 40, s, nil},
		{"seven days: over 3 × 5 and over 15", 7, 5, 0, 40, s, []int{16}},
		{"busiest 8: over 24", 30, 8, 0, 40, s, []int{25}},
		{"busiest 2: over the floor of 15", 10, 2, 0, 40, s, []int{16}},
		{"busiest 2: exactly the floor", 10, 2, 0, 15, s, nil},
		{"busiest 10: exactly 3 × 10", 10, 10, 0, 30, s, nil},
		{"busiest 10: 3 × 10 + 1", 10, 10, 0, 31, s, []int{31}},
		{"busiest 10, 29 days ago", 10, 10, 19, 31, s, []int{31}},
		{"busiest 10, over 30 days ago: forgotten", 10, 10, 31, 31, s, []int{16}},
		{"factor 1.5, busiest 20", 10, 20, 0, 40, with(func(s *tripwire.Settings) { s.BaselineFactor = 1.5 }), []int{31}},
		{"floor 25", 10, 2, 0, 40, with(func(s *tripwire.Settings) { s.BaselineFloor = 25 }), []int{26}},
		{"baseline days 1", 1, 5, 0, 40, with(func(s *tripwire.Settings) { s.BaselineDays = 1 }), []int{16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, others := baselineRun(t, tt.days, tt.busiest, tt.gap, tt.n, tt.s)
			if !slices.Equal(got, tt.want) || others != nil {
				t.Errorf("baseline alerts at opens %v, others at %v; want %v, none", got, others, tt.want)
			}
		})
	}
}

func TestBaselineOncePerHour(t *testing.T) {
	dt := newDetector(t, tripwire.DefaultSettings())
	start := time.Date(2026, 2, 2, 10, 0, 0, 0, hel)
	for day := range 7 {
		dt.Observe(opens(start.AddDate(0, 0, day), "h1", "h2"))
	}
	at := start.AddDate(0, 0, 7) // Monday 10:00
	var alerts []string
	for i := range 60 {
		tm := at.Add(time.Duration(i) * 2 * time.Minute) // the 16th at 10:30
		for _, a := range dt.Admit(opens(tm, fmt.Sprint("p", i))).Alerts {
			alerts = append(alerts, fmt.Sprintf("%v %s %d>%d", a.Kind, a.At.In(hel).Format("15:04"), a.Count, a.Limit))
		}
	}
	// Once in the hour; the next hour compares with this busy one.
	want := []string{"baseline 10:30 16>15"}
	if !slices.Equal(alerts, want) {
		t.Errorf("alerts %q, want %q", alerts, want)
	}
}

func TestNewAddress(t *testing.T) {
	from := func(addr string, observe bool) tripwire.Event {
		e := ev("chart.read", "p1", monday)
		e.Addr = addr
		if observe {
			e.Action = "note.create"
		}
		return e
	}
	type use struct {
		addr    string
		observe bool
		want    int // the alert's Count, 0 for none
	}
	tests := []struct {
		name string
		uses []use
	}{
		{"one address", []use{{"A", false, 0}, {"A", false, 0}}},
		{"each new address alerts once", []use{
			{"A", false, 0}, {"B", false, 2}, {"B", false, 0}, {"A", false, 0}, {"C", false, 3}, {"D", false, 4},
			{"E", false, 5}, {"F", false, 0}, {"E", false, 0}, {"D", false, 0},
		}},
		{"first seen on a write, alerted on the next read", []use{
			{"A", true, 0}, {"B", true, 0}, {"B", false, 2}, {"B", false, 0}, {"A", false, 0},
		}},
		{"no address", []use{{"A", false, 0}, {"", false, 0}, {"A", false, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dt := newDetector(t, tripwire.DefaultSettings())
			for i, u := range tt.uses {
				e := from(u.addr, u.observe)
				if u.observe {
					dt.Observe([]tripwire.Event{e})
					continue
				}
				got := dt.Admit([]tripwire.Event{e})
				n := 0
				for _, a := range got.Alerts {
					if a.Kind != tripwire.KindNewAddr || a.Credential != "s1" || a.Severity != tripwire.Warning || a.Freeze {
						t.Fatalf("use %d: alert %+v", i, a)
					}
					n = a.Count
				}
				if got.Allowed != 1 || len(got.Alerts) > 1 || n != u.want {
					t.Fatalf("use %d from %q: Allowed %d, alerts %+v; want count %d", i, u.addr, got.Allowed, got.Alerts, u.want)
				}
			}
		})
	}
	t.Run("another session from the new address", func(t *testing.T) {
		dt := newDetector(t, tripwire.DefaultSettings())
		dt.Admit([]tripwire.Event{from("A", false)})
		e := from("B", false)
		e.Credential = "s2"
		if got := dt.Admit([]tripwire.Event{e}); len(got.Alerts) != 0 {
			t.Errorf("alerts %v, want none", got.Alerts)
		}
	})
}

func TestRate(t *testing.T) {
	rate := []tripwire.Kind{tripwire.KindRate}
	every := func(n int, gap time.Duration, role string) []step {
		var s []step
		for i := range n {
			e := ev("chart.read", "p1", monday.Add(time.Duration(i)*gap))
			e.Role = role
			s = append(s, step{[]tripwire.Event{e, e}, 2, nil})
		}
		return s
	}
	at := func(d time.Duration, role string) []tripwire.Event {
		e := ev("patient.read", "p1", monday.Add(d))
		e.Role = role
		return []tripwire.Event{e}
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"120 in a minute", every(120, 499*time.Millisecond, "clinician")},
		{"two a second for 10 minutes", every(1200, 500*time.Millisecond, "clinician")},
		{"the 121st in a minute is refused", append(every(120, 499*time.Millisecond, "clinician"),
			step{at(time.Minute-time.Millisecond, "clinician"), 0, rate},
			step{at(time.Hour, "clinician"), 0, nil},
		)},
		{"the 121st a minute after the first is fine", append(every(120, 499*time.Millisecond, "clinician"),
			step{at(time.Minute, "clinician"), 1, nil},
		)},
		{"portal patients are rate limited too", append(every(120, 0, "patient"),
			step{at(0, "patient"), 0, rate},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, newDetector(t, tripwire.DefaultSettings()), tt.steps)
		})
	}
	t.Run("alert and forget", func(t *testing.T) {
		dt := newDetector(t, tripwire.DefaultSettings())
		run(t, dt, every(120, 0, "clinician"))
		got := dt.Admit(at(0, "clinician"))
		if len(got.Alerts) != 1 {
			t.Fatalf("alerts %v", got.Alerts)
		}
		a := got.Alerts[0]
		if a.Count != 121 || a.Limit != 120 || a.Window != time.Minute || !a.Freeze || a.Credential != "s1" || len(a.Indexes) != 121 {
			t.Errorf("alert %+v", a)
		}
		dt.Forget("c1")
		run(t, dt, every(120, 0, "clinician"))
	})
	t.Run("each credential has its own count", func(t *testing.T) {
		dt := newDetector(t, tripwire.DefaultSettings())
		run(t, dt, every(120, 0, "clinician"))
		e := at(0, "clinician")
		e[0].Credential = "s2"
		run(t, dt, []step{{e, 1, nil}})
	})
}

func TestObserve(t *testing.T) {
	t.Run("counts towards Admit", func(t *testing.T) {
		dt := newDetector(t, tripwire.DefaultSettings(), "canary")
		dt.Observe(opens(monday, ids("p", 0, 29)...))
		dt.Observe(opens(monday, "canary")) // refused by Admit: not counted
		run(t, dt, []step{
			{opens(monday, "p0", "p29"), 2, nil},
			{opens(monday, "x"), 0, charts},
		})
	})
	t.Run("beyond the limit is not counted", func(t *testing.T) {
		// A replayed sweep: the 31st open was refused then, and stays refused.
		dt := newDetector(t, tripwire.DefaultSettings())
		dt.Observe(opens(monday, ids("p", 0, 31)...))
		run(t, dt, []step{
			{opens(monday, "p0"), 1, nil},
			{opens(monday, "p30"), 0, charts},
		})
	})
	t.Run("many accounts in one call", func(t *testing.T) {
		dt := newDetector(t, tripwire.DefaultSettings())
		var evs []tripwire.Event
		for i := range 40 {
			for _, acct := range []string{"c1", "c2", ""} {
				e := ev("chart.read", fmt.Sprint("p", i), monday)
				e.Account = acct
				evs = append(evs, e)
			}
		}
		dt.Observe(evs)
		for _, acct := range []string{"c1", "c2"} {
			e := ev("chart.read", "p0", monday)
			e.Account, e.Credential = acct, acct
			if got := dt.Admit([]tripwire.Event{e}); got.Allowed != 1 {
				t.Errorf("%s: re-open refused", acct)
			}
			e.Patient = "x"
			if got := dt.Admit([]tripwire.Event{e}); got.Allowed != 0 {
				t.Errorf("%s: 31st admitted", acct)
			}
		}
	})
}

func TestIgnoredRoles(t *testing.T) {
	for _, role := range []string{"operator", "patient"} {
		t.Run(role, func(t *testing.T) {
			dt := newDetector(t, tripwire.DefaultSettings())
			sunday := time.Date(2026, 3, 22, 3, 0, 0, 0, hel)
			for i := range 100 {
				e := ev("chart.read", fmt.Sprint("p", i), sunday)
				e.Role, e.Credential = role, fmt.Sprint("s", i) // many requests, many credentials
				l := rows("patient.list", sunday, ids("q", 0, 300)...)
				for j := range l {
					l[j].Role, l[j].Credential = role, e.Credential
				}
				if got := dt.Admit(append(l, e)); got.Allowed != 301 || got.Alerts != nil {
					t.Fatalf("request %d: Allowed %d, alerts %v", i, got.Allowed, got.Alerts)
				}
			}
		})
	}
}

func TestOneRequestPerCall(t *testing.T) {
	dt := newDetector(t, tripwire.DefaultSettings())
	evs := opens(monday, "p1", "p2", "p3", "p4")
	evs[2].Account = "c2"
	if got := dt.Admit(evs); got.Allowed != 2 {
		t.Errorf("another account in the request: Allowed %d, want 2", got.Allowed)
	}
	evs = opens(monday, "p1", "p2", "p3")
	evs[1].Credential = "s9"
	if got := dt.Admit(evs); got.Allowed != 1 {
		t.Errorf("another credential in the request: Allowed %d, want 1", got.Allowed)
	}
	evs = opens(monday, "p1", "p2")
	for i := range evs {
		evs[i].Account = ""
	}
	if got := dt.Admit(evs); got.Allowed != 2 || got.Alerts != nil {
		t.Errorf("no account: %+v, want all allowed", got)
	}
	if got := dt.Admit(nil); got.Allowed != 0 || got.Alerts != nil {
		t.Errorf("no events: %+v", got)
	}
}

func TestSettings(t *testing.T) {
	dt := newDetector(t, tripwire.DefaultSettings(), "canary")
	run(t, dt, one(monday, ids("p", 0, 20)...))

	s := tripwire.DefaultSettings()
	s.ChartLimit = 0
	if err := dt.SetSettings(s); err == nil {
		t.Fatal("SetSettings accepted a chart limit of 0")
	}
	if got := dt.Settings().ChartLimit; got != 30 {
		t.Fatalf("after a refused SetSettings the chart limit is %d, want 30", got)
	}

	s.ChartLimit = 10 // lower than what is counted: re-opens only
	if err := dt.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	run(t, dt, []step{{opens(monday, "p19", "p0"), 2, nil}})

	s = tripwire.DefaultSettings()
	s.Disabled = true
	if err := dt.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	run(t, dt, []step{{opens(monday, "canary", "p20", "p21"), 3, nil}})
	s.Disabled = false
	if err := dt.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	run(t, dt, slices.Concat(
		one(monday, ids("p", 22, 30)...), // 22 counted, 8 more
		[]step{{opens(monday, "x"), 0, charts}},
	))

	if _, err := tripwire.New(tripwire.Settings{}, nil); err == nil {
		t.Error("New accepted zero settings")
	}
}

// TestConcurrentOneAccount has 16 requests of one account, each opening
// new patients, race for the chart limit: exactly the limit get through.
func TestConcurrentOneAccount(t *testing.T) {
	for range 20 {
		dt := newDetector(t, tripwire.DefaultSettings())
		var (
			mu       sync.Mutex
			admitted = map[string]bool{}
			alerts   int
			wg       sync.WaitGroup
		)
		for g := range 16 {
			wg.Go(func() {
				for i := range 8 {
					evs := opens(monday, fmt.Sprintf("g%d-%d-a", g, i), fmt.Sprintf("g%d-%d-b", g, i))
					for j := range evs {
						evs[j].Credential = fmt.Sprint("s", g)
					}
					got := dt.Admit(evs)
					mu.Lock()
					for _, e := range evs[:got.Allowed] {
						admitted[e.Patient] = true
					}
					alerts += len(got.Alerts)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(admitted) != 30 || alerts != 1 {
			t.Fatalf("%d distinct patients admitted, %d alerts; want 30, 1", len(admitted), alerts)
		}
	}
}
