package clinic

import (
	"database/sql"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/store"
)

// requestState reads, straight from the file, whether a clinician is on a
// care team, holds a grant of its first epoch, and how a request was closed
// ("" while open).
func (e *env) requestState(db *sql.DB, patientID, clinicianID, requestID string) (onTeam, granted bool, outcome string) {
	e.t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM care_team WHERE patient_id = ? AND user_id = ? AND removed_at IS NULL`, patientID, clinicianID).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	onTeam = n > 0
	if err := db.QueryRow(`SELECT count(*) FROM grants WHERE patient_id = ? AND principal = ?`, patientID, userPrincipal(clinicianID)).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	granted = n > 0
	var o sql.NullString
	if err := db.QueryRow(`SELECT outcome FROM careteam_requests WHERE id = ?`, requestID).Scan(&o); err != nil {
		e.t.Fatal(err)
	}
	return onTeam, granted, o.String
}

// TestCareTeamRequestIsOneTransaction: granting a care-team request and
// closing it commit together. A failure injected into either half (a
// trigger in the database file refusing the write) leaves neither: no
// grant beside a request still open, no closed request without its grant.
// Then a grant and a decline of one request race: exactly one wins, and
// what is stored agrees with it.
func TestCareTeamRequestIsOneTransaction(t *testing.T) {
	e := newEnv(t)
	holder := e.user("holder@x.fi", hush.RoleClinician)
	admin, err := e.c.SignIn(e.ctx, "admin@x.fi", []byte(pw))
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.c.CreatePatient(as(holder), hush.Patient{Family: "Virtanen", BirthDate: "1990-01-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, store.FileName)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}

	newcomer := e.user("new@x.fi", hush.RoleClinician)
	req, err := e.c.RequestCareTeam(as(admin), p.ID, newcomer.UserID)
	if err != nil {
		t.Fatal(err)
	}
	for _, fault := range []struct{ name, trigger string }{
		{"closing the request fails", `CREATE TRIGGER inject BEFORE UPDATE ON careteam_requests BEGIN SELECT RAISE(ABORT, 'injected'); END`},
		{"the grant fails", `CREATE TRIGGER inject BEFORE INSERT ON care_team BEGIN SELECT RAISE(ABORT, 'injected'); END`},
	} {
		exec(fault.trigger)
		if err := e.c.AnswerCareTeamRequest(as(holder), req.ID, true); err == nil {
			t.Fatalf("%s: the answer succeeded", fault.name)
		}
		exec(`DROP TRIGGER inject`)
		if onTeam, granted, outcome := e.requestState(db, p.ID, newcomer.UserID, req.ID); onTeam || granted || outcome != "" {
			t.Errorf("%s: on the team %v, granted %v, request %q; want nothing changed", fault.name, onTeam, granted, outcome)
		}
	}
	if err := e.c.AnswerCareTeamRequest(as(holder), req.ID, true); err != nil {
		t.Fatalf("grant once the fault is gone: %v", err)
	}
	if onTeam, granted, outcome := e.requestState(db, p.ID, newcomer.UserID, req.ID); !onTeam || !granted || outcome != "granted" {
		t.Errorf("after the grant: on the team %v, granted %v, request %q", onTeam, granted, outcome)
	}
	if err := e.c.AnswerCareTeamRequest(as(newcomer), req.ID, false); hush.ErrorCode(err) != hush.ENOTFOUND {
		t.Errorf("answering a closed request: %v", err)
	}

	// A grant and a decline of the same request, at once.
	for i := range 4 {
		other := e.user("other"+string(rune('a'+i))+"@x.fi", hush.RoleClinician)
		req, err := e.c.RequestCareTeam(as(admin), p.ID, other.UserID)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, answer := range []struct {
			a     *hush.Actor
			grant bool
		}{{holder, true}, {newcomer, false}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[j] = e.c.AnswerCareTeamRequest(as(answer.a), req.ID, answer.grant)
			}()
		}
		wg.Wait()
		onTeam, granted, outcome := e.requestState(db, p.ID, other.UserID, req.ID)
		switch {
		case errs[0] == nil && errs[1] != nil:
			if !onTeam || !granted || outcome != "granted" {
				t.Errorf("race %d, grant won: on the team %v, granted %v, request %q", i, onTeam, granted, outcome)
			}
		case errs[0] != nil && errs[1] == nil:
			if onTeam || granted || outcome != "declined" {
				t.Errorf("race %d, decline won: on the team %v, granted %v, request %q", i, onTeam, granted, outcome)
			}
		default:
			t.Errorf("race %d: grant %v, decline %v; want exactly one to succeed", i, errs[0], errs[1])
		}
	}
}
