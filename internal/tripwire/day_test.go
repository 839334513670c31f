package tripwire_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/tripwire"
)

// clinic replays ordinary work through a Detector, failing on any alert or
// refusal.
type clinic struct {
	t     *testing.T
	d     *tripwire.Detector
	index int64
	reads int
	day   []request // today's requests, played in time order by play
}

type request struct {
	a        actor
	at       time.Time
	action   string
	patients []string
	write    bool
}

type actor struct{ account, role, cred, addr string }

func (c *clinic) events(a actor, at time.Time, action string, patients ...string) []tripwire.Event {
	evs := make([]tripwire.Event, len(patients))
	for i, p := range patients {
		c.index++
		evs[i] = tripwire.Event{Time: at, Account: a.account, Role: a.role, Patient: p, Action: action,
			Credential: a.cred, Addr: a.addr, Index: c.index}
	}
	return evs
}

// read is one request that reads.
func (c *clinic) read(a actor, at time.Time, action string, patients ...string) {
	c.day = append(c.day, request{a, at, action, patients, false})
}

// write is one request that writes.
func (c *clinic) write(a actor, at time.Time, action, patient string) {
	c.day = append(c.day, request{a, at, action, []string{patient}, true})
}

// play sends the day's requests in time order: reads to Admit, writes to
// Observe.
func (c *clinic) play() {
	c.t.Helper()
	slices.SortStableFunc(c.day, func(a, b request) int { return a.at.Compare(b.at) })
	for _, r := range c.day {
		evs := c.events(r.a, r.at, r.action, r.patients...)
		if r.write {
			c.d.Observe(evs)
			continue
		}
		got := c.d.Admit(evs)
		c.reads++
		if got.Allowed != len(evs) || len(got.Alerts) != 0 {
			c.t.Fatalf("%s %s at %v (%d rows): Allowed %d, alerts %+v", r.a.account, r.action, r.at, len(evs), got.Allowed, got.Alerts)
		}
	}
	c.day = c.day[:0]
}

// TestOrdinaryMonth replays 30 days of a clinician's and a receptionist's
// work, across the change to summer time: no alert at all.
func TestOrdinaryMonth(t *testing.T) {
	c := &clinic{t: t, d: newDetector(t, tripwire.DefaultSettings(), "canary1", "canary2")}
	rng := rand.New(rand.NewPCG(1, 2))
	directory := ids("p", 0, 2000)
	directory[17], directory[1234] = "canary1", "canary2" // canaries show up in searches
	caseload := directory[100:160]

	start := time.Date(2026, 3, 2, 0, 0, 0, 0, hel) // a Monday; summer time begins on the 29th
	var week []string
	for day := range 30 {
		date := start.AddDate(0, 0, day)
		if date.Weekday() == time.Monday || week == nil {
			// This week's appointments: about 120 patients, a few twice.
			week = nil
			for range 120 {
				week = append(week, directory[rng.IntN(len(directory))])
			}
			week = append(week, week[:30]...)
		}
		if date.Weekday() == time.Saturday || date.Weekday() == time.Sunday {
			continue
		}
		at := func(h, m int) time.Time { return date.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }

		// The clinician: 12 patients, 08:00 to 17:00, one session a day.
		doc := actor{"doc", "clinician", fmt.Sprint("doc-session-", day), "192.0.2.10"}
		today := make([]string, 12)
		for i := range today {
			today[i] = caseload[(day*12+i)%len(caseload)]
		}
		c.read(doc, at(7, 55), "appointment.list", today...)
		for i, p := range today {
			v := at(8, i*45)
			// A search by name: the patient and a few namesakes.
			hits := []string{p}
			for range rng.IntN(5) {
				hits = append(hits, directory[rng.IntN(len(directory))])
			}
			c.read(doc, v, "patient.list", hits...)
			c.read(doc, v.Add(time.Minute), "chart.read", p)
			for n := range 3 {
				c.read(doc, v.Add(time.Duration(2+n)*time.Minute), "note.read", p)
			}
			c.read(doc, v.Add(5*time.Minute), "measure.read", p)
			c.read(doc, v.Add(6*time.Minute), "diagnosis.read", p)
			c.write(doc, v.Add(35*time.Minute), "note.create", p)
			c.write(doc, v.Add(38*time.Minute), "note.save", p)
			c.write(doc, v.Add(40*time.Minute), "note.sign", p)
		}

		// The receptionist: 40 bookings, 30 looks at the calendar.
		rec := actor{"rec", "reception", fmt.Sprint("rec-session-", day), "192.0.2.20"}
		for i := range 40 {
			b := at(8, i*12)
			hits := make([]string, 5+rng.IntN(16))
			for j := range hits {
				hits[j] = directory[rng.IntN(len(directory))]
			}
			c.read(rec, b, "patient.list", hits...)
			chosen := hits[rng.IntN(len(hits))]
			if chosen == "canary1" || chosen == "canary2" {
				chosen = hits[0] // nobody books a canary: nobody knows them
			}
			c.read(rec, b.Add(time.Minute), "patient.read", chosen)
			c.write(rec, b.Add(2*time.Minute), "appointment.book", chosen)
		}
		for i := range 30 {
			v := at(8, i*16+3)
			if i%2 == 0 {
				c.read(rec, v, "appointment.list", week[:40]...) // the day
			} else {
				c.read(rec, v, "appointment.list", week...) // the week: 150 rows, 120 patients
			}
		}
		c.play()
	}
	if c.reads < 4000 {
		t.Fatalf("only %d read requests replayed", c.reads)
	}
}
