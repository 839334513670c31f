package clinic

import (
	"context"
	"fmt"
	"testing"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
)

// TestAuditReadsCountAndStaySealed: staff reading the audit log see no
// search term, client address or sign-in name (only the KEK holder does);
// every patient a page names counts toward the audit limit, and the page
// that would name one too many is refused and freezes the reader.
func TestAuditReadsCountAndStaySealed(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@x.fi", hush.RoleClinician)
	auditor := e.user("auditor@x.fi", hush.RoleAuditor)
	admin, _ := e.c.SignIn(e.ctx, "admin@x.fi", []byte(pw))
	s := allDay(100, 1000)
	s.AuditLimit = 5
	if err := e.c.UpdateSettings(as(admin), s); err != nil {
		t.Fatal(err)
	}
	dctx := at(doc, "token:d", "192.0.2.7")
	var ids []string
	for i := range 8 {
		p, err := e.c.CreatePatient(dctx, hush.Patient{Family: "Virtanen", Given: []string{fmt.Sprint(i)}, BirthDate: "1990-01-01"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	if _, err := e.c.SearchPatients(dctx, PatientQuery{Name: "Virtanen"}); err != nil {
		t.Fatal(err)
	}
	actx := at(auditor, "token:a", "192.0.2.8")
	// A page filtered to one patient names one patient.
	evs, err := e.c.SearchAudit(actx, AuditQuery{PatientID: ids[0], Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Private.Query != "" || ev.Private.ClientAddr != "" || ev.Private.Email != "" {
			t.Fatalf("the auditor sees sealed parts: %+v", ev.Private)
		}
	}
	all, err := e.c.SearchAudit(hush.WithActor(e.ctx, &hush.Actor{Role: hush.RoleOperator}), AuditQuery{ActionPrefix: audit.ActPatientList, Limit: 1})
	if err != nil || len(all) != 1 || all[0].Private.Query == "" || all[0].Private.ClientAddr == "" {
		t.Fatalf("the operator (KEK holder) must see them: %v %+v", err, all)
	}
	sealed := false
	for _, ev := range mustAudit(t, e, actx, AuditQuery{ActionPrefix: audit.ActPatientList, Limit: 1}) {
		sealed = sealed || ev.Sealed
		if ev.Private.Query != "" {
			t.Fatal("a search term reached the auditor")
		}
	}
	if !sealed {
		t.Fatal("the view does not say its private parts are sealed")
	}
	// Reading pages that name the other patients crosses the limit of 5.
	_, err = e.c.SearchAudit(actx, AuditQuery{Limit: 200})
	if !ErrFrozen(err) {
		t.Fatalf("a page naming 8 patients past a limit of 5: %v, want the freeze", err)
	}
	if _, err := e.c.SearchAudit(actx, AuditQuery{PatientID: ids[0]}); !ErrFrozen(err) {
		t.Fatalf("the frozen auditor: %v", err)
	}
	alerts := mustAudit(t, e, as(admin), AuditQuery{ActionPrefix: audit.ActAlertPrefix + "volume.audit"})
	if len(alerts) != 1 || alerts[0].Entity != auditor.UserID {
		t.Fatalf("volume.audit alerts: %+v", alerts)
	}
}

func mustAudit(t *testing.T, e *env, ctx context.Context, q AuditQuery) []AuditView {
	t.Helper()
	evs, err := e.c.SearchAudit(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
