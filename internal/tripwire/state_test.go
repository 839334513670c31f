package tripwire

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC) // Monday 10:00 in Helsinki

func TestMemoryIsBounded(t *testing.T) {
	d, err := New(DefaultSettings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A replayed sweep of 10,000 charts and listings in a minute.
	var evs []Event
	for i := range 10000 {
		at := t0.Add(time.Duration(i) * 6 * time.Millisecond)
		p := fmt.Sprint("p", i)
		evs = append(evs,
			Event{Time: at, Account: "c1", Role: "clinician", Patient: p, Action: "chart.read", Credential: "s1", Addr: fmt.Sprint("a", i)},
			Event{Time: at, Account: "c1", Role: "clinician", Patient: p, Action: "patient.list", Credential: "s1"})
	}
	d.Observe(evs)
	v, _ := d.accounts.Load("c1")
	a := v.(*account)
	if len(a.charts.seen) != 30 || len(a.dir.seen) != 200 || len(a.base.set) != 30 {
		t.Errorf("charts %d, directory %d, hour %d patients; want 30, 200, 30", len(a.charts.seen), len(a.dir.seen), len(a.base.set))
	}
	v, _ = d.creds.Load("s1")
	if c := v.(*credential); c.naddrs != maxAddrs {
		t.Errorf("%d addresses remembered, want %d", c.naddrs, maxAddrs)
	}

	// The hour's set stops at maxHourSet even when the limits are high.
	s := DefaultSettings()
	s.ChartLimit = MaxLimit
	d.SetSettings(s)
	for i := range 10000 {
		d.Observe([]Event{{Time: t0.Add(time.Duration(i) * time.Millisecond), Account: "c2", Role: "clinician", Patient: fmt.Sprint("p", i), Action: "note.read"}})
	}
	v, _ = d.accounts.Load("c2")
	a = v.(*account)
	if len(a.base.set) != maxHourSet || len(a.charts.seen) != 10000 {
		t.Errorf("hour set %d, window %d; want %d, 10000", len(a.base.set), len(a.charts.seen), maxHourSet)
	}
}

func TestIdleCredentialsAreDropped(t *testing.T) {
	d, err := New(DefaultSettings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	use := func(cred string, at time.Time) {
		d.Admit([]Event{{Time: at, Account: "c1", Role: "clinician", Action: "login", Credential: cred, Addr: "A"}})
	}
	for i := range sweepEvery {
		use(fmt.Sprint("old", i), t0)
	}
	use("kept", t0.Add(29*24*time.Hour))
	later := t0.Add(credIdle)
	for i := range sweepEvery - 1 {
		use(fmt.Sprint("new", i), later) // the last one sweeps
	}
	if got, want := d.credentials(), sweepEvery; got != want {
		t.Errorf("%d credentials remembered, want %d", got, want)
	}
	if _, ok := d.creds.Load("kept"); !ok {
		t.Error("a credential used 29 days ago was dropped")
	}
	use("old0", later) // comes back as new: its first address again, no alert
}

func TestRing(t *testing.T) {
	var r ring
	sec := int64(time.Second)
	for i := range int64(5) {
		if !r.admit(i*sec, i, 5, time.Minute) {
			t.Fatalf("batch %d refused", i)
		}
	}
	if r.admit(5*sec, 5, 5, time.Minute) {
		t.Fatal("sixth batch in a minute admitted")
	}
	if !r.admit(60*sec, 60, 5, time.Minute) || !r.admit(61*sec, 61, 5, time.Minute) {
		t.Fatal("batches a minute later refused")
	}
	// Now 2, 3, 4, 60, 61 with head at 2. Lower the limit to 3: 4, 60, 61.
	if r.admit(62*sec, 62, 3, time.Minute) {
		t.Fatal("fourth batch admitted after the limit was lowered to 3")
	}
	if got, want := r.indexes(-1), []int64{-1, 4, 60, 61}; !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	if !r.admit(62*sec, 62, 4, time.Minute) || r.admit(62*sec, 62, 4, time.Minute) {
		t.Fatal("raising the limit to 4 did not admit exactly one more")
	}
}

func TestBaselineAdvance(t *testing.T) {
	h := int64(500000)
	b := newBaseline(h)
	at := func(hour int64) int64 { return hour*hourNS + 1 }
	b.add("a", at(h), 1)
	b.add("b", at(h), 2)
	b.add("a", at(h), 3)
	b.add("c", at(h+5), 4)
	if b.busiest != 2 || len(b.set) != 1 {
		t.Fatalf("busiest %d, current %d; want 2, 1", b.busiest, len(b.set))
	}
	b.add("late", at(h), 5) // an hour already closed: not counted
	if len(b.set) != 1 || b.counts[floorMod(h, baselineHours)] != 2 {
		t.Fatal("a late event changed the counts")
	}
	b.add("d", at(h+baselineHours), 6) // hour h is now 30 days back: out
	if b.busiest != 1 {
		t.Fatalf("busiest %d after 30 days, want 1 (hour h+5)", b.busiest)
	}
	b.add("e", at(h+5*baselineHours), 7)
	if b.busiest != 0 || b.first != h {
		t.Fatalf("busiest %d, first %d after 150 days; want 0, %d", b.busiest, b.first, h)
	}
	if got := floorDiv(-1, hourNS); got != -1 {
		t.Errorf("floorDiv(-1) = %d", got)
	}
}
