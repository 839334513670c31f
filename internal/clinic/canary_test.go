package clinic

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hetu"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/store"
)

func TestCleanName(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"  Mäkinen ", "Mäkinen", ""},
		{"Ma\u0308kinen", "M\u00e4kinen", ""},        // NFC
		{"Å\u0301ngström", "\u01FAngstr\u00f6m", ""}, // composed where Unicode has the letter
		{"M\xe4kinen", "", "must be 1 to 200"},
		{"M\uFFFDkinen", "", "replacement character"},
		{"Aalto\u202E", "", "bidirectional"},
		{"\u202AAalto", "", "bidirectional"},
		{"Aalto\u2066x\u2069", "", "bidirectional"},
		{"Aalto\u200F", "Aalto\u200F", ""}, // a right-to-left mark is no override
		{"", "", "must be 1 to 200"},
		{"Aal\nto", "", "must be 1 to 200"},
	} {
		got, err := cleanName("family name", tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), tt.in) && tt.in != "" {
				t.Errorf("%+q: %v, want an error saying %q (not quoting the input)", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%+q: %+q, %v; want %+q", tt.in, got, err, tt.want)
		}
	}
}

// TestCanaryNamesFromList: with too few real patients, a canary's names
// come from the built-in list, its given names of the sex of its code.
func TestCanaryNamesFromList(t *testing.T) {
	e := newEnv(t)
	if n := len(names()["family"]); n < 200 || len(names()["female"]) < 100 || len(names()["male"]) < 100 {
		t.Fatalf("the built-in list is short: %d family names", n)
	}
	ids, err := e.c.AddCanaries(e.ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		p, _ := e.c.dir.get(id)
		code, err := hetu.Parse(p.HETU)
		if err != nil || !code.Temporary() {
			t.Fatalf("canary code: %v", err)
		}
		if !slices.Contains(names()["family"], p.Family) || len(p.Given) == 0 {
			t.Errorf("canary %s %v: family name not from the list", p.Family, p.Given)
		}
		for _, g := range p.Given {
			if !slices.Contains(names()[code.Sex()], g) {
				t.Errorf("canary given name %s is not a %s name of the list", g, code.Sex())
			}
		}
	}
}

// TestCanaryPlantedAfterReception: planned canaries are planted after
// registrations by reception, as that account, with no care team; a
// clinician's registrations plant none.
func TestCanaryPlantedAfterReception(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@x.fi", hush.RoleClinician)
	desk := e.user("desk@x.fi", hush.RoleReception)
	e.c.SetCanaryPlantDelay(0)
	if err := e.c.PlanCanaries(e.ctx, 2); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := e.c.CreatePatient(as(doc), hush.Patient{Family: "Hoito", Given: []string{fmt.Sprint(i)}, BirthDate: "1980-01-01"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	e.c.trip.plants.Wait()
	if planted, pending, _ := e.c.CanaryCount(e.ctx); planted != 0 || pending != 2 {
		t.Fatalf("after a clinician's registrations: %d planted, %d pending", planted, pending)
	}
	for i := 0; i < 200; i++ {
		if _, err := e.c.CreatePatient(at(desk, "web:s1", "192.0.2.7"), hush.Patient{Family: "Jono", Given: []string{fmt.Sprint(i)}, BirthDate: "1980-01-01"}, nil); err != nil {
			t.Fatal(err)
		}
		e.c.trip.plants.Wait()
		if _, pending, _ := e.c.CanaryCount(e.ctx); pending == 0 {
			break
		}
	}
	ids, err := e.c.Canaries(e.ctx)
	if err != nil || len(ids) != 2 {
		t.Fatalf("canaries %v %v", ids, err)
	}
	err = e.c.db.Read(e.ctx, func(tx *store.Tx) error {
		for _, id := range ids {
			r, err := tx.PatientByID(id)
			if err != nil {
				return err
			}
			team, err := tx.CareTeam(id)
			if err != nil {
				return err
			}
			if r.CreatedBy != desk.UserID || len(team) != 0 {
				t.Errorf("canary created by %s with team %v", r.CreatedBy, team)
			}
			// As the web app's registration: the new patient's page follows.
			rows, err := tx.SearchAudit(store.AuditQuery{PatientID: id, Limit: 10})
			if err != nil {
				return err
			}
			var evs []string
			for _, r := range rows {
				evs = append(evs, r.Action)
			}
			if !slices.Equal(evs, []string{audit.ActPatientRead, audit.ActPatientCreate}) { // newest first
				t.Errorf("a canary planted after a web registration has events %v", evs)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Correcting a canary's details is a request for its record: the trip.
	p, _ := e.c.dir.get(ids[0])
	p.Family = "Changed"
	if _, err := e.c.UpdatePatient(at(desk, "token:desk", "192.0.2.7"), p); !ErrFrozen(err) {
		t.Fatalf("updating a canary: %v, want the freeze", err)
	}
}

// TestLookupsCountedAfterRestart: identifier lookups that find no one are
// directory rows, also for the detector rebuilt from the log at start.
func TestLookupsCountedAfterRestart(t *testing.T) {
	e := newEnv(t)
	desk := e.user("desk@x.fi", hush.RoleReception)
	if err := e.c.UpdateSettings(e.ctx, allDay(30, 5)); err != nil {
		t.Fatal(err)
	}
	lookup := func(c *Clinic, i int) error {
		code, _ := hetu.Make(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), 100+i)
		_, err := c.SearchPatients(at(desk, "token:desk", "192.0.2.8"), PatientQuery{Identifier: code.String()})
		return err
	}
	for i := range 3 {
		if err := lookup(e.c, i); err != nil {
			t.Fatalf("lookup %d: %v", i, err)
		}
	}
	e.c.Close()
	c, err := Open(context.Background(), e.dir, e.kek)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 3; i < 5; i++ {
		if err := lookup(c, i); err != nil {
			t.Fatalf("lookup %d: %v", i, err)
		}
	}
	if err := lookup(c, 5); !ErrFrozen(err) {
		t.Fatalf("the sixth lookup past a limit of 5: %v, want the freeze", err)
	}
}
