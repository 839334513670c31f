package clinic

import (
	"context"
	"testing"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/store"
)

// DisableReadAuditForBenchmark replaces the durable append of read events
// by a no-op, so a benchmark can measure what auditing costs. It exists only
// in test builds.
func DisableReadAuditForBenchmark(c *Clinic) {
	c.appendRead = func(context.Context, ...audit.Event) error { return nil }
}

// TestDisableReadAuditForBenchmark: the benchmark's no-op really skips the
// read events (so the comparison measures what auditing costs) and
// nothing else.
func TestDisableReadAuditForBenchmark(t *testing.T) {
	e := newEnv(t)
	a := e.user("a@x.fi", hush.RoleClinician)
	p, _ := e.c.CreatePatient(as(a), hush.Patient{Family: "V", BirthDate: "1990-01-01"}, nil)
	size := func() int64 {
		var n int64
		e.c.db.Read(e.ctx, func(tx *store.Tx) error { n, _ = tx.AuditSize(); return nil })
		return n
	}
	DisableReadAuditForBenchmark(e.c)
	before := size()
	if _, err := e.c.Chart(as(a), p.ID); err != nil {
		t.Fatal(err)
	}
	if size() != before {
		t.Fatal("a read was audited with the no-op in place")
	}
	if _, err := e.c.CreateNote(as(a), p.ID, NoteInput{Kind: hush.KindFree, Status: hush.StatusSigned, Text: "x"}); err != nil || size() <= before {
		t.Fatalf("writes must stay audited: %v", err)
	}
}
