package cli

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hetu"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/store"
)

// DemoSummary counts what a demo clinic holds.
type DemoSummary struct {
	Patients, Notes, Appointments, Measures int
	AuditVerified                           bool
}

// BuildDemoForTest builds the demo clinic in dir and counts its contents.
func BuildDemoForTest(ctx context.Context, dir string, patients int) (DemoSummary, error) {
	d, err := buildDemo(ctx, Env{Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: io.Discard}, dir, patients)
	if err != nil {
		return DemoSummary{}, err
	}
	defer d.cl.Close()
	s := DemoSummary{Notes: d.notes}
	err = d.cl.DB().Read(ctx, func(tx *store.Tx) error {
		ps, err := tx.PatientsAfter(0)
		s.Patients = len(ps)
		return err
	})
	if err != nil {
		return s, err
	}
	maria, err := d.cl.UserByEmail(ctx, "maria@demo.hush")
	if err != nil {
		return s, err
	}
	now := time.Now().In(clinic.Helsinki)
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, clinic.Helsinki)
	actx := hush.WithActor(ctx, &hush.Actor{UserID: maria.ID, Role: hush.RoleClinician})
	appts, err := d.cl.Appointments(actx, from, from.AddDate(0, 0, 2), "")
	if err != nil {
		return s, err
	}
	s.Appointments = len(appts)
	evs, err := d.cl.Audit().Search(ctx, store.AuditQuery{Limit: 100000})
	if err != nil {
		return s, err
	}
	for _, ev := range evs {
		if ev.Action == audit.ActMeasureAdd {
			s.Measures++
		}
	}
	if _, err := d.cl.Audit().Sign(ctx); err != nil {
		return s, err
	}
	_, err = audit.Verify(ctx, d.cl.DB(), d.cl.AuditVerifierKey(), nil)
	s.AuditVerified = err == nil
	return s, nil
}

// TestDemoHETUIsTemporary: demo identity codes are valid and in the
// temporary range, so none can be a real person's permanent code.
func TestDemoHETUIsTemporary(t *testing.T) {
	for _, birth := range []time.Time{time.Date(1955, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2004, 12, 31, 0, 0, 0, 0, time.UTC)} {
		for i := 0; i < 50; i++ {
			c, err := hetu.Parse(demoHETU(birth))
			if err != nil || !c.Temporary() || !c.BirthDate().Equal(birth) {
				t.Fatalf("demo code for %s: %v temporary=%v", birth.Format(time.DateOnly), err, c.Temporary())
			}
		}
	}
}
