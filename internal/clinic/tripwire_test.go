package clinic

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hetu"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/measures"
	"github.com/hushepr/hush/internal/store"
	"github.com/hushepr/hush/internal/tripwire"
)

// at returns a context for actor a coming in with a credential from an
// address, as the web app or the API makes one.
func at(a *hush.Actor, cred, addr string) context.Context {
	a.Credential = cred
	return hush.WithRequest(hush.WithActor(context.Background(), a), hush.Request{ID: "r", ClientAddr: addr})
}

// TestRealisticDayRaisesNothing replays a working day through the clinic
// service, every read audited and checked by the tripwires at their
// defaults: reception books 40 appointments (searching, opening details,
// looking at the day and week calendars again and again) and a clinician
// sees 12 patients (my day, search, chart, a note, a PHQ-9). No alert.
func TestRealisticDayRaisesNothing(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@x.fi", hush.RoleClinician)
	desk := e.user("desk@x.fi", hush.RoleReception)
	admin, err := e.c.SignIn(e.ctx, "admin@x.fi", []byte(pw))
	if err != nil {
		t.Fatal(err)
	}
	// A Tuesday in November, 07:30 in Helsinki.
	now := time.Date(2026, 11, 24, 7, 30, 0, 0, Helsinki)
	e.c.SetClock(func() time.Time { return now })
	tick := func(d time.Duration) { now = now.Add(d) }

	families := []string{"Aalto", "Berg", "Dahl", "Eklund", "Forsman", "Hirvonen", "Ilves", "Jussila", "Kallio", "Lund", "Mäki", "Nurmi",
		"Ojala", "Pitkänen", "Rinne", "Saari", "Toivonen", "Uusitalo", "Vainio", "Wikström"}
	var patients []hush.Patient
	for i := range 120 {
		p, err := e.c.CreatePatient(as(desk), hush.Patient{Family: families[i%len(families)], Given: []string{fmt.Sprintf("Given%d", i)},
			BirthDate: fmt.Sprintf("19%02d-0%d-1%d", 50+i%50, 1+i%9, i%10)}, []string{doc.UserID})
		if err != nil {
			t.Fatal(err)
		}
		patients = append(patients, p)
	}
	deskCtx := at(desk, "web:desk-morning", "192.0.2.10")
	docCtx := at(doc, "web:doc-morning", "192.0.2.20")
	day := now.Truncate(24 * time.Hour)
	week := day.AddDate(0, 0, -int(now.Weekday())+1)

	// Reception: 40 bookings between 08:00 and 16:00.
	tick(30 * time.Minute)
	for i := range 40 {
		p := patients[(i*7)%len(patients)]
		if _, err := e.c.SearchPatients(deskCtx, PatientQuery{Name: strings.ToLower(p.Family[:3])}); err != nil {
			t.Fatalf("booking %d: search: %v", i, err)
		}
		if _, err := e.c.Patient(deskCtx, p.ID); err != nil {
			t.Fatalf("booking %d: details: %v", i, err)
		}
		start := day.AddDate(0, 0, 1+i%5).Add(time.Duration(8+i%8) * time.Hour)
		if _, err := e.c.BookAppointment(deskCtx, p.ID, doc.UserID, start, 45*time.Minute); err != nil {
			t.Fatalf("booking %d: %v", i, err)
		}
		if _, err := e.c.Appointments(deskCtx, day, day.AddDate(0, 0, 1), ""); err != nil {
			t.Fatalf("day calendar: %v", err)
		}
		if i%3 == 0 {
			if _, err := e.c.Appointments(deskCtx, week, week.AddDate(0, 0, 14), ""); err != nil {
				t.Fatalf("two weeks' calendar: %v", err)
			}
		}
		tick(12 * time.Minute)
	}

	// The clinician: 12 patients, 45 minutes each, from 08:00 to 17:00.
	now = day.Add(8 * time.Hour)
	for i := range 12 {
		p := patients[i*9]
		if _, err := e.c.Appointments(docCtx, day, day.AddDate(0, 0, 1), doc.UserID); err != nil {
			t.Fatalf("my day: %v", err)
		}
		if _, err := e.c.SearchPatients(docCtx, PatientQuery{Name: strings.ToLower(p.Family[:2])}); err != nil {
			t.Fatalf("search: %v", err)
		}
		if _, err := e.c.ChartView(docCtx, p.ID); err != nil {
			t.Fatalf("chart %d: %v", i, err)
		}
		tick(30 * time.Minute)
		if _, err := e.c.CreateNote(docCtx, p.ID, NoteInput{Kind: hush.KindSOAP, Status: hush.StatusSigned, Text: "Subjective: ..."}); err != nil {
			t.Fatalf("note: %v", err)
		}
		if _, err := e.c.AddMeasure(docCtx, p.ID, measures.PHQ9, []int{1, 1, 1, 1, 1, 1, 0, 0, 0}); err != nil {
			t.Fatalf("measure: %v", err)
		}
		if _, err := e.c.ChartView(docCtx, p.ID); err != nil {
			t.Fatalf("chart again: %v", err)
		}
		tick(15 * time.Minute)
	}

	alerts, err := e.c.Alerts(as(admin), 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		t.Errorf("false alarm: %s about %s at %s", a.Action, a.Entity, a.Time.In(Helsinki).Format("15:04"))
	}
	if frozen, _ := e.c.FrozenAccounts(as(admin)); len(frozen) != 0 {
		t.Errorf("%d accounts frozen on a normal day", len(frozen))
	}
}

// TestFreezeAndUnfreeze: a critical alert freezes the account in the
// database (so it holds across a restart), ends its token sessions, runs
// the web app's hook, refuses its sign-in; an admin's unfreeze lifts it
// and starts its counts afresh. Each step is an audit event.
func TestFreezeAndUnfreeze(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@x.fi", hush.RoleClinician)
	admin, _ := e.c.SignIn(e.ctx, "admin@x.fi", []byte(pw))
	s := DefaultSettings()
	s.Hours = [7]string{"00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00"}
	s.ChartLimit = 3
	if err := e.c.UpdateSettings(as(admin), s); err != nil {
		t.Fatal(err)
	}
	var hooked []string
	e.c.OnFreeze(func(id string) { hooked = append(hooked, id) })
	ctx := at(doc, "token:t1", "192.0.2.1")
	var ids []string
	for i := range 5 {
		p, err := e.c.CreatePatient(ctx, hush.Patient{Family: "P", Given: []string{fmt.Sprint(i)}, BirthDate: "1990-01-01"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	for i, id := range ids {
		_, err := e.c.Chart(ctx, id)
		switch {
		case i < 3 && err != nil:
			t.Fatalf("chart %d: %v", i, err)
		case i == 3 && !ErrFrozen(err):
			t.Fatalf("chart %d past the limit: %v, want the freeze", i, err)
		}
	}
	if len(hooked) != 1 || hooked[0] != doc.UserID {
		t.Errorf("freeze hook calls: %v", hooked)
	}
	if ok, _ := e.c.Active(e.ctx, doc.UserID); ok {
		t.Error("a frozen account is active")
	}
	if _, err := e.c.SignIn(e.ctx, "doc@x.fi", []byte(pw)); !ErrFrozen(err) {
		t.Errorf("frozen sign-in: %v", err)
	}
	// Reopen: the freeze holds across a restart.
	e.c.Close()
	c2, err := Open(e.ctx, e.dir, e.kek)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c2
	if _, err := c2.SignIn(e.ctx, "doc@x.fi", []byte(pw)); !ErrFrozen(err) {
		t.Errorf("frozen sign-in after a restart: %v", err)
	}
	admin, _ = c2.SignIn(e.ctx, "admin@x.fi", []byte(pw))
	if err := c2.Unfreeze(as(doc), doc.UserID); hush.ErrorCode(err) != hush.EFORBIDDEN {
		t.Errorf("unfreeze by the account itself: %v", err)
	}
	if err := c2.Unfreeze(as(admin), doc.UserID); err != nil {
		t.Fatal(err)
	}
	doc2, err := c2.SignIn(e.ctx, "doc@x.fi", []byte(pw))
	if err != nil {
		t.Fatalf("sign-in after the unfreeze: %v", err)
	}
	// Its windows start afresh: three charts again (after the replay of
	// the log at start-up saw the unfreeze).
	for _, id := range ids[:3] {
		if _, err := c2.Chart(at(doc2, "token:t2", "192.0.2.1"), id); err != nil {
			t.Fatalf("chart after the unfreeze: %v", err)
		}
	}
	evs, _ := c2.SearchAudit(as(admin), AuditQuery{Limit: 500})
	seen := map[string]bool{}
	for _, ev := range evs {
		seen[ev.Action] = true
		if ev.Action == audit.ActAlertPrefix+"volume.charts" && (ev.Entity != doc.UserID || ev.ActorID != audit.ActorTripwire) {
			t.Errorf("alert event: %+v", ev.Event)
		}
	}
	for _, a := range []string{audit.ActAlertPrefix + "volume.charts", audit.ActFreeze, audit.ActUnfreeze, audit.ActSettingsUpdate} {
		if !seen[a] {
			t.Errorf("no %s event in the audit log", a)
		}
	}
}

// TestSettingsRules: admins only, validated with a message that names the
// rule and never a value, secrets redacted on the way out and kept when
// the form sends the redaction mark back.
func TestSettingsRules(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@x.fi", hush.RoleClinician)
	admin, _ := e.c.SignIn(e.ctx, "admin@x.fi", []byte(pw))
	if _, err := e.c.Settings(as(doc)); hush.ErrorCode(err) != hush.EFORBIDDEN {
		t.Errorf("a clinician reads settings: %v", err)
	}
	good := DefaultSettings()
	good.WebhookURL, good.WebhookSecret = "https://alerts.example.fi/hush", "s3cret-s3cret-s3cret-s3cret-s3cret!"
	for _, c := range []struct {
		name string
		edit func(*Settings)
	}{
		{"hours reversed", func(s *Settings) { s.Hours[1] = "17:00-08:00" }},
		{"hours garbage", func(s *Settings) { s.Hours[1] = "all day" }},
		{"minutes 61", func(s *Settings) { s.Hours[1] = "08:61-17:00" }},
		{"chart limit 0", func(s *Settings) { s.ChartLimit = 0 }},
		{"window 0", func(s *Settings) { s.ChartWindowMin = 0 }},
		{"factor below 1", func(s *Settings) { s.BaselineFactor = 0.5 }},
		{"webhook over http", func(s *Settings) { s.WebhookURL = "http://alerts.example.fi/x" }},
		{"short secret", func(s *Settings) { s.WebhookSecret = "short" }},
		{"bad mail", func(s *Settings) {
			s.SMTPAddr, s.SMTPFrom, s.SMTPTo = "mail.example.fi:25", "hush@x.fi", []string{"not an address"}
		}},
	} {
		s := good
		c.edit(&s)
		err := e.c.UpdateSettings(as(admin), s)
		if hush.ErrorCode(err) != hush.EINVALID {
			t.Errorf("%s: %v, want invalid", c.name, err)
			continue
		}
		if msg := hush.ErrorMessage(err); strings.Contains(msg, "s3cret") || strings.Contains(msg, "not an address") {
			t.Errorf("%s: the message echoes input: %s", c.name, msg)
		}
	}
	if err := e.c.UpdateSettings(as(doc), good); hush.ErrorCode(err) != hush.EFORBIDDEN {
		t.Errorf("a clinician writes settings: %v", err)
	}
	if err := e.c.UpdateSettings(as(admin), good); err != nil {
		t.Fatal(err)
	}
	shown, err := e.c.Settings(as(admin))
	if err != nil || shown.WebhookSecret != secretKept || shown.ChartLimit != 30 {
		t.Fatalf("shown: %+v %v", shown, err)
	}
	shown.ChartLimit = 40
	if err := e.c.UpdateSettings(as(admin), shown); err != nil {
		t.Fatal(err)
	}
	stored, _ := e.c.loadSettings(e.ctx)
	if stored.WebhookSecret != good.WebhookSecret || stored.ChartLimit != 40 || e.c.trip.det.Settings().ChartLimit != 40 {
		t.Errorf("after saving the shown form: secret kept %v, limit %d, detector %d", stored.WebhookSecret == good.WebhookSecret, stored.ChartLimit, e.c.trip.det.Settings().ChartLimit)
	}
}

// FuzzParseSpan: working hours typed on the settings page either parse to
// a span inside the day with start before end, or are refused; never a
// panic.
func FuzzParseSpan(f *testing.F) {
	for _, s := range []string{"08:00-17:00", "", "00:00-24:00", "17:00-08:00", "8:00-9:00", "24:01-24:02", "08:00-", "-", "ab:cd-ef:gh", " 07:30 - 20:00 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := parseSpan(s)
		if err != nil {
			// One fixed message: it never carries the input.
			if hush.ErrorCode(err) != hush.EINVALID || hush.ErrorMessage(err) != spanRule {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if sp.Start < 0 || sp.End > 24*60 || (sp != (tripwire.Span{}) && sp.Start >= sp.End) {
			t.Fatalf("%q parsed to %+v", s, sp)
		}
	})
}

// allDay is DefaultSettings open every hour (no offhours warnings) with
// the given record and directory limits.
func allDay(charts, dir int) Settings {
	s := DefaultSettings()
	s.ChartLimit, s.DirectoryLimit = charts, dir
	for d := range s.Hours {
		s.Hours[d] = "00:00-24:00"
	}
	return s
}

// TestHETUConflictIsARead: "a patient with this identity code is already
// registered" tells whether a person is a patient here, so it is counted
// as a read of that patient: probing codes through registrations or
// corrections meets the directory limit, and a canary's code freezes at
// once.
func TestHETUConflictIsARead(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@x.fi", hush.RoleClinician)
	desk := e.user("desk@x.fi", hush.RoleReception)
	desk2 := e.user("desk2@x.fi", hush.RoleReception)
	// Register three patients with valid codes, as the doctor.
	var made []string
	for i := range 3 {
		p, err := e.c.CreatePatient(as(doc), hush.Patient{Family: "Real", Given: []string{fmt.Sprint(i)}, BirthDate: fmt.Sprintf("1990-01-%02d", 10+i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, p.ID)
	}
	ctx := at(desk, "token:desk", "192.0.2.5")
	probe, err := e.c.CreatePatient(ctx, hush.Patient{Family: "Probe", BirthDate: "1980-01-01"}, []string{doc.UserID})
	if err != nil {
		t.Fatal(err)
	}
	// Give the real patients codes (as the doctor), then probe them.
	var real []string
	for i, id := range made {
		p, _ := e.c.Patient(as(doc), id)
		code := hetuFor(t, p.BirthDate, 100+i)
		p.HETU = code
		if _, err := e.c.UpdatePatient(as(doc), p); err != nil {
			t.Fatal(err)
		}
		real = append(real, code)
	}
	// The probe's own details and two conflicts fit a limit of 3.
	if err := e.c.UpdateSettings(e.ctx, allDay(30, 3)); err != nil {
		t.Fatal(err)
	}
	pp, err := e.c.Patient(ctx, probe.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, code := range real {
		pp.HETU, pp.BirthDate = code, ""
		_, err := e.c.UpdatePatient(ctx, pp)
		switch {
		case i < 2 && hush.ErrorCode(err) != hush.ECONFLICT:
			t.Fatalf("probe %d: %v, want the conflict", i, err)
		case i == 2 && !ErrFrozen(err):
			t.Fatalf("probe %d past the directory limit: %v, want the freeze", i, err)
		}
	}
	// A canary's code freezes on the first probe.
	if err := e.c.UpdateSettings(e.ctx, allDay(30, 200)); err != nil {
		t.Fatal(err)
	}
	ids, err := e.c.AddCanaries(e.ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	e.c.dir.refresh(e.ctx)
	canary, ok := e.c.dir.get(ids[0])
	if !ok || canary.HETU == "" {
		t.Fatalf("canary: %+v", canary)
	}
	_, err = e.c.CreatePatient(at(desk2, "token:desk2", "192.0.2.6"), hush.Patient{Family: "X", HETU: canary.HETU}, []string{doc.UserID})
	if !ErrFrozen(err) {
		t.Fatalf("a canary's code: %v, want the freeze", err)
	}
}

// hetuFor returns a valid identity code for a birth date (YYYY-MM-DD).
func hetuFor(t *testing.T, birth string, ind int) string {
	t.Helper()
	d, err := time.Parse(time.DateOnly, birth)
	if err != nil {
		t.Fatal(err)
	}
	code, err := hetu.Make(d, ind)
	if err != nil {
		t.Fatal(err)
	}
	return code.String()
}

// TestNoteHistoryIsOneRead: the history of a note with many (autosaved)
// versions is one request for the tripwires, so opening it does not trip
// the request rate (120 a minute).
func TestNoteHistoryIsOneRead(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@x.fi", hush.RoleClinician)
	ctx := at(doc, "web:doc", "192.0.2.1")
	if err := e.c.UpdateSettings(e.ctx, allDay(30, 200)); err != nil {
		t.Fatal(err)
	}
	p, err := e.c.CreatePatient(as(doc), hush.Patient{Family: "P", BirthDate: "1990-01-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.c.CreateNote(as(doc), p.ID, NoteInput{Kind: hush.KindFree, Status: hush.StatusDraft, Text: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	for v := 1; v < 130; v++ {
		if n, err = e.c.UpdateNote(as(doc), n.ID, v, NoteInput{Kind: hush.KindFree, Status: hush.StatusDraft, Text: fmt.Sprint("v", v+1)}); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := e.c.NoteHistory(ctx, n.ID)
	if err != nil || len(hist) != 130 || hist[129].Text != "v130" || hist[0].Text != "v1" {
		t.Fatalf("history: %d versions, %v", len(hist), err)
	}
	if _, err := e.c.Chart(ctx, p.ID); err != nil {
		t.Fatalf("after the history: %v", err)
	}
}

// TestUnfreezeFromCommandLineWhileServing: hush user unfreeze works on the
// database while the server runs; the server's detector lets go at the
// account's next request (the unfreeze is in the audit log), and a
// request racing the freeze's own commit does not lift it.
func TestUnfreezeFromCommandLineWhileServing(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@x.fi", hush.RoleClinician)
	if err := e.c.UpdateSettings(e.ctx, allDay(1, 200)); err != nil {
		t.Fatal(err)
	}
	ctx := at(doc, "token:doc", "192.0.2.1")
	var ids []string
	for i := range 2 {
		p, err := e.c.CreatePatient(as(doc), hush.Patient{Family: "P", Given: []string{fmt.Sprint(i)}, BirthDate: "1990-01-01"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	e.c.Chart(ctx, ids[0])
	if _, err := e.c.Chart(ctx, ids[1]); !ErrFrozen(err) {
		t.Fatalf("past the limit: %v", err)
	}
	// Still frozen in memory; the database agrees.
	if _, err := e.c.Chart(ctx, ids[0]); !ErrFrozen(err) {
		t.Fatalf("after the freeze: %v", err)
	}
	cli, err := Open(e.ctx, e.dir, e.kek) // hush user unfreeze, another process
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Unfreeze(e.ctx, doc.UserID); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	doc2, err := e.c.SignIn(e.ctx, "doc@x.fi", []byte(pw))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Chart(at(doc2, "token:doc2", "192.0.2.1"), ids[0]); err != nil {
		t.Fatalf("after the unfreeze: %v", err)
	}
}

// TestFrozenTokenNeedsItsSecret: only a holder of a token's secret learns
// that its account is frozen; a guess with the token's id gets the same
// answer as any bad token.
func TestFrozenTokenNeedsItsSecret(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@x.fi", hush.RoleClinician)
	tok, err := e.c.CreateToken(e.ctx, "doc@x.fi", []byte(pw), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.c.db.ReadWrite(e.ctx, func(tx *store.Tx) error {
		return e.c.changeUser(tx, doc.UserID, func() error { return tx.FreezeUser(doc.UserID, 1) })
	})
	if _, err := e.c.Authenticate(e.ctx, tok.Secret); !ErrFrozen(err) {
		t.Errorf("the right secret: %v, want frozen", err)
	}
	forged := tok.Secret[:len(tok.Secret)-4] + "AAAA"
	if _, err := e.c.Authenticate(e.ctx, forged); ErrFrozen(err) || hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("a forged secret: %v, want unauthorized", err)
	}
}

// TestSecondSweepAfterUnfreeze: after an admin's review and unfreeze, a
// second concurrent sweep by the same account is held to the limit again
// (the first freeze's time must not lift the second one while it commits).
func TestSecondSweepAfterUnfreeze(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@x.fi", hush.RoleClinician)
	admin, _ := e.c.SignIn(e.ctx, "admin@x.fi", []byte(pw))
	if err := e.c.UpdateSettings(e.ctx, allDay(10, 1000)); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 40 {
		p, err := e.c.CreatePatient(as(doc), hush.Patient{Family: "P", Given: []string{fmt.Sprint(i)}, BirthDate: "1990-01-01"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	stolen := at(doc, "token:stolen", "203.0.113.1")
	sweep := func(ids []string) int64 {
		var read atomic.Int64
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.c.Chart(stolen, id); err == nil {
					read.Add(1)
				}
			}()
		}
		wg.Wait()
		return read.Load()
	}
	if n := sweep(ids[:20]); n > 10 {
		t.Fatalf("first sweep read %d, limit 10", n)
	}
	if err := e.c.Unfreeze(as(admin), doc.UserID); err != nil {
		t.Fatal(err)
	}
	if n := sweep(ids[20:]); n > 10 {
		t.Fatalf("second sweep read %d, limit 10", n)
	}
}
