package clinic

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/store"
)

// rejectedEvents returns the token.rejected events in the log.
func rejectedEvents(t *testing.T, e *env) []audit.Event {
	t.Helper()
	evs, err := e.c.audit.Search(e.ctx, store.AuditQuery{ActionPrefix: audit.ActTokenRejected, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestRejectedTokensAreThrottled: a flood of bad tokens from one address
// writes its first failure and then one event with the count per minute;
// failures from more sources than are tracked share one bucket; nothing
// is lost from the count.
func TestRejectedTokensAreThrottled(t *testing.T) {
	e := newEnv(t)
	clock := time.Date(2026, 3, 2, 10, 0, 5, 0, time.UTC)
	e.c.now = func() time.Time { return clock }
	from := func(addr string) context.Context {
		return hush.WithRequest(context.Background(), hush.Request{ID: "r", ClientAddr: addr})
	}
	bad := "hush_" + fmt.Sprintf("%032x", 7) + "_AAAA"
	for range 5000 {
		if _, err := e.c.Authenticate(from("203.0.113.9"), bad); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
			t.Fatalf("bad token: %v", err)
		}
	}
	if n := len(rejectedEvents(t, e)); n != 1 {
		t.Fatalf("5,000 bad tokens in one minute wrote %d events, want 1 (the first)", n)
	}
	// The next minute closes the burst: one event carries the other 4,999.
	clock = clock.Add(time.Minute)
	e.c.Authenticate(from("203.0.113.9"), bad)
	evs := rejectedEvents(t, e)
	if len(evs) != 3 {
		t.Fatalf("after the minute closed: %d events, want 3", len(evs))
	}
	var total int64
	for _, ev := range evs {
		total += max(ev.Count, 1)
		if ev.Private.ClientAddr != "203.0.113.9" || ev.ActorID != "" || ev.Outcome != audit.OutcomeDenied {
			t.Fatalf("event %+v", ev)
		}
	}
	if total != 5001 {
		t.Fatalf("the events count %d failures, want 5001", total)
	}

	// More sources than are tracked: the overflow shares one bucket.
	clock = clock.Add(time.Minute)
	before := len(rejectedEvents(t, e))
	for i := range maxRejectSources + 500 {
		e.c.Authenticate(from(fmt.Sprintf("10.%d.%d.1", i/256, i%256)), bad)
	}
	if got := len(rejectedEvents(t, e)) - before; got != maxRejectSources+1 {
		// +1: the overflow bucket's first failure.
		t.Fatalf("%d sources wrote %d events, want %d", maxRejectSources+500, got, maxRejectSources+1)
	}
	if n := len(e.c.rej.sources); n > maxRejectSources {
		t.Fatalf("%d sources tracked, cap %d", n, maxRejectSources)
	}
	clock = clock.Add(time.Minute)
	e.c.flushRejected(e.ctx)
	evs = rejectedEvents(t, e)
	if last := evs[0]; last.Count != 499 || last.Private.ClientAddr != "" {
		t.Fatalf("the overflow bucket's count: %+v, want 499 from no one address", last)
	}
}

// TestNoiseStopsAtTheReserve: below the disk reserve, rejected tokens are
// not logged (and an audit.space alert is raised) while real work still
// audits; below the floor, reads are refused rather than released
// unaudited.
func TestNoiseStopsAtTheReserve(t *testing.T) {
	e := newEnv(t)
	a := e.user("a@x.fi", hush.RoleClinician)
	p, err := e.c.CreatePatient(as(a), hush.Patient{Family: "V", BirthDate: "1990-01-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var free uint64 = audit.DefaultReserve - 1
	e.c.audit.Close()
	e.c.audit = audit.New(e.c.db, audit.Options{Origin: auditOrigin(e.c.id), Private: e.c.dirKey, FreeSpace: func() (uint64, error) { return free, nil }})
	e.c.audit.OnAlert = e.c.auditAlert
	e.c.appendRead = e.c.audit.Append
	bad := "hush_" + fmt.Sprintf("%032x", 7) + "_AAAA"
	for i := range 50 {
		e.c.Authenticate(hush.WithRequest(context.Background(), hush.Request{ClientAddr: fmt.Sprintf("10.0.0.%d", i)}), bad)
	}
	if n := len(rejectedEvents(t, e)); n != 0 {
		t.Fatalf("below the reserve %d rejected tokens were logged", n)
	}
	if _, err := e.c.Chart(as(a), p.ID); err != nil {
		t.Fatalf("real work below the reserve: %v", err)
	}
	alerts, _ := e.c.audit.Alerts(e.ctx)
	if len(alerts) == 0 || alerts[len(alerts)-1].Kind != "audit.space" {
		t.Fatalf("no audit.space alert: %+v", alerts)
	}
	free = audit.DefaultFloor - 1
	e.c.audit.Close()
	e.c.audit = audit.New(e.c.db, audit.Options{Origin: auditOrigin(e.c.id), Private: e.c.dirKey, FreeSpace: func() (uint64, error) { return free, nil }})
	e.c.appendRead = e.c.audit.Append
	if _, err := e.c.Chart(as(a), p.ID); hush.ErrorCode(err) != hush.EUNAVAILABLE {
		t.Fatalf("a read below the floor: %v, want EUNAVAILABLE", err)
	}
}
