package clinic

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/auth"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/measures"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

const pw = "correct horse battery staple"

type env struct {
	t    *testing.T
	c    *Clinic
	dir  string
	kek  *seal.KEK
	ctx  context.Context
	docs map[string]*hush.Actor
}

func newEnv(t *testing.T) *env {
	t.Helper()
	saved := seal.Argon2Params
	seal.Argon2Params.MemoryKiB, seal.Argon2Params.Time = 1024, 1 // fast tests; the real cost is benchmarked
	t.Cleanup(func() { seal.Argon2Params = saved })
	dir := t.TempDir()
	kek := seal.NewTestKEK()
	c, _, err := Init(context.Background(), dir, kek, InitOptions{Name: "Test", AdminEmail: "admin@x.fi", AdminName: "Admin", AdminPassword: []byte(pw), Canaries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &env{t: t, c: c, dir: dir, kek: kek, ctx: context.Background(), docs: map[string]*hush.Actor{}}
}

func (e *env) user(email string, role hush.Role) *hush.Actor {
	e.t.Helper()
	if _, err := e.c.AddUser(e.ctx, NewUser{Email: email, Name: "N " + email, Role: role, Password: []byte(pw)}); err != nil {
		e.t.Fatal(err)
	}
	a, err := e.c.SignIn(e.ctx, email, []byte(pw))
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func as(a *hush.Actor) context.Context { return hush.WithActor(context.Background(), a) }

func TestNoteLifecycle(t *testing.T) {
	e := newEnv(t)
	a := e.user("a@x.fi", hush.RoleClinician)
	b := e.user("b@x.fi", hush.RoleClinician)
	p, err := e.c.CreatePatient(as(a), hush.Patient{Family: "Virtanen", BirthDate: "1990-01-01"}, []string{b.UserID})
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.c.CreateNote(as(a), p.ID, NoteInput{Kind: hush.KindSOAP, Status: hush.StatusDraft, Text: "draft 1"})
	if err != nil {
		t.Fatal(err)
	}
	// Only the author edits or signs a draft.
	if _, err := e.c.UpdateNote(as(b), n.ID, 0, NoteInput{Kind: hush.KindSOAP, Status: hush.StatusSigned, Text: "b signs"}); hush.ErrorCode(err) != hush.EFORBIDDEN {
		t.Errorf("b signs a's draft: %v", err)
	}
	n2, err := e.c.UpdateNote(as(a), n.ID, 1, NoteInput{Kind: hush.KindSOAP, Status: hush.StatusDraft, Text: "draft 2"})
	if err != nil || n2.Version != 2 {
		t.Fatalf("save draft: %v %d", err, n2.Version)
	}
	n3, err := e.c.UpdateNote(as(a), n.ID, 2, NoteInput{Kind: hush.KindSOAP, Status: hush.StatusSigned, Text: "signed"})
	if err != nil || n3.Status != hush.StatusSigned {
		t.Fatalf("sign: %v", err)
	}
	for _, st := range []hush.NoteStatus{hush.StatusSigned, hush.StatusDraft} {
		if _, err := e.c.UpdateNote(as(a), n.ID, 0, NoteInput{Kind: hush.KindSOAP, Status: st, Text: "edited in place"}); hush.ErrorCode(err) != hush.ECONFLICT {
			t.Errorf("edit signed note as %s: %v, want conflict", st, err)
		}
	}
	// Any care-team clinician may amend; the signed version stays readable.
	n4, err := e.c.UpdateNote(as(b), n.ID, 3, NoteInput{Kind: hush.KindSOAP, Status: hush.StatusAmended, Text: "amended"})
	if err != nil || n4.Version != 4 || n4.AuthorID != b.UserID {
		t.Fatalf("amend: %v %+v", err, n4)
	}
	old, err := e.c.Note(as(a), n.ID, 3)
	if err != nil || old.Text != "signed" || old.Status != hush.StatusSigned {
		t.Fatalf("signed version: %+v %v", old, err)
	}
	hist, err := e.c.NoteHistory(as(a), n.ID)
	if err != nil || len(hist) != 4 {
		t.Fatalf("history: %d %v", len(hist), err)
	}
	want := []string{"draft 1", "draft 2", "signed", "amended"}
	for i, h := range hist {
		if h.Text != want[i] {
			t.Errorf("version %d: %q, want %q", i+1, h.Text, want[i])
		}
	}
	chart, err := e.c.Chart(as(a), p.ID)
	if err != nil || len(chart) != 1 || chart[0].Version != 4 {
		t.Fatalf("chart: %v %+v", err, chart)
	}
}

// TestTamperedColumnsDoNotOpen: the clear columns of a note (status, kind,
// author, version) are bound into its ciphertext, so a database writer who
// changes them makes the note unreadable rather than misattributed. A body
// moved to another note does not open either.
func TestTamperedColumnsDoNotOpen(t *testing.T) {
	e := newEnv(t)
	a := e.user("a@x.fi", hush.RoleClinician)
	p, _ := e.c.CreatePatient(as(a), hush.Patient{Family: "V", BirthDate: "1990-01-01"}, nil)
	n1, _ := e.c.CreateNote(as(a), p.ID, NoteInput{Kind: hush.KindSOAP, Status: hush.StatusSigned, Text: "one"})
	n2, _ := e.c.CreateNote(as(a), p.ID, NoteInput{Kind: hush.KindSOAP, Status: hush.StatusSigned, Text: "two"})
	var rows []store.NoteRow
	e.c.db.Read(e.ctx, func(tx *store.Tx) error { var err error; rows, err = tx.AllNotes(); return err })
	seed, err := e.c.seed(nil, a, p.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	k := seed.ContentKey()
	for _, r := range rows {
		if _, err := k.Open(r.Body, noteAD(r)); err != nil {
			t.Fatalf("untouched note does not open: %v", err)
		}
		for name, mut := range map[string]func(*store.NoteRow){
			"status": func(r *store.NoteRow) { r.Status = "preliminary" },
			"kind":   func(r *store.NoteRow) { r.Kind = "DAP" },
			"author": func(r *store.NoteRow) { r.AuthorID = "someone" },
			"date":   func(r *store.NoteRow) { r.CreatedAt-- },
			"moved": func(r *store.NoteRow) {
				if r.ID == n1.ID {
					r.ID = n2.ID
				} else {
					r.ID = n1.ID
				}
			},
		} {
			m := r
			mut(&m)
			if _, err := k.Open(r.Body, noteAD(m)); err == nil {
				t.Errorf("note opens with tampered %s", name)
			}
		}
	}
}

// TestKEKHolderOpensNoNote: every key the server can reach with the KEK
// (directory, index, and each KEK-derived key) fails to open every note
// body and every grant.
func TestKEKHolderOpensNoNote(t *testing.T) {
	e := newEnv(t)
	a := e.user("a@x.fi", hush.RoleClinician)
	p, _ := e.c.CreatePatient(as(a), hush.Patient{Family: "V", BirthDate: "1990-01-01"}, nil)
	e.c.CreateNote(as(a), p.ID, NoteInput{Kind: hush.KindFree, Status: hush.StatusSigned, Text: "secret"})
	var rows []store.NoteRow
	var grants []store.GrantRow
	e.c.db.Read(e.ctx, func(tx *store.Tx) error {
		rows, _ = tx.AllNotes()
		grants, _ = tx.Grants("")
		return nil
	})
	keys := []*seal.Key{e.c.dirKey, e.c.idxKey, e.c.pubMAC, e.c.credWrap, e.c.credMAC, e.c.tlsWrap,
		e.kek.Derive("clinic key wrap v1")}
	for _, r := range rows {
		for i, k := range keys {
			if _, err := k.Open(r.Body, noteAD(r)); err == nil {
				t.Errorf("server key %d opens a note", i)
			}
		}
	}
	if len(grants) != 2 {
		t.Fatalf("%d grants", len(grants))
	}
}

func TestPatientValidation(t *testing.T) {
	today := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	ok := func() hush.Patient {
		return hush.Patient{Family: "Virtanen", Given: []string{"Aino"}, HETU: "131052-308T"}
	}
	tests := []struct {
		name string
		mut  func(*hush.Patient)
		want string // "" = valid
	}{
		{"valid", func(p *hush.Patient) {}, ""},
		{"valid without HETU", func(p *hush.Patient) { p.HETU = ""; p.BirthDate = "2001-02-03" }, ""},
		{"lower-case HETU normalised", func(p *hush.Patient) { p.HETU = " 010594y9032 " }, ""},
		{"HETU in the future", func(p *hush.Patient) { p.HETU = "131052A308T" }, "out of range"},
		{"new century sign", func(p *hush.Patient) { p.HETU = "010594Y9032" }, ""},
		{"no family", func(p *hush.Patient) { p.Family = " " }, "family name"},
		{"long family", func(p *hush.Patient) { p.Family = strings.Repeat("a", 201) }, "family name"},
		{"newline in name", func(p *hush.Patient) { p.Given = []string{"a\nb"} }, "given name"},
		{"bad HETU", func(p *hush.Patient) { p.HETU = "131052-308A" }, "check character"},
		{"no date", func(p *hush.Patient) { p.HETU = "" }, "birth date or an identity code"},
		{"bad date", func(p *hush.Patient) { p.HETU = ""; p.BirthDate = "2001-02-30" }, "YYYY-MM-DD"},
		{"future date", func(p *hush.Patient) { p.HETU = ""; p.BirthDate = "2030-01-01" }, "out of range"},
		{"date mismatch", func(p *hush.Patient) { p.BirthDate = "1952-10-14" }, "does not match"},
		{"bad gender", func(p *hush.Patient) { p.Gender = "x" }, "gender"},
		{"bad phone", func(p *hush.Patient) { p.Telecom = []hush.ContactPoint{{System: "phone", Value: "call me"}} }, "phone"},
		{"bad email", func(p *hush.Patient) { p.Telecom = []hush.ContactPoint{{System: "email", Value: "nope"}} }, "email"},
		{"bad system", func(p *hush.Patient) { p.Telecom = []hush.ContactPoint{{System: "fax", Value: "1"}} }, "phone or email"},
		{"guardian", func(p *hush.Patient) {
			p.Guardians = []hush.Guardian{{Name: "Parent", Telecom: []hush.ContactPoint{{System: "phone", Value: "+358 40 1234567"}}}}
		}, ""},
		{"guardian without name", func(p *hush.Patient) { p.Guardians = []hush.Guardian{{}} }, "guardian name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok()
			tt.mut(&p)
			err := ValidatePatient(&p, today)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || hush.ErrorCode(err) != hush.EINVALID || !strings.Contains(hush.ErrorMessage(err), tt.want) {
				t.Fatalf("error %v, want invalid %q", err, tt.want)
			}
		})
	}
	p := ok()
	p.HETU = " 010594y9032 "
	ValidatePatient(&p, today)
	if p.HETU != "010594Y9032" || p.BirthDate != "1994-05-01" {
		t.Errorf("normalised to %s %s", p.HETU, p.BirthDate)
	}
}

func TestSearch(t *testing.T) {
	e := newEnv(t)
	desk := e.user("desk@x.fi", hush.RoleReception)
	a := e.user("a@x.fi", hush.RoleClinician)
	for i := 0; i < 60; i++ {
		fam := "Virtanen"
		if i%2 == 1 {
			fam = "Mäkinen-Laine"
		}
		_, err := e.c.CreatePatient(as(desk), hush.Patient{Family: fam, Given: []string{fmt.Sprintf("Aino%d", i)}, BirthDate: "1990-01-01"}, []string{a.UserID})
		if err != nil {
			t.Fatal(err)
		}
	}
	hetuP, err := e.c.CreatePatient(as(desk), hush.Patient{Family: "Korhonen", HETU: "131052-308T"}, []string{a.UserID})
	if err != nil {
		t.Fatal(err)
	}
	// A fresh Open rebuilds the directory from the database.
	c2, err := Open(e.ctx, e.dir, e.kek)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for _, tt := range []struct {
		q    PatientQuery
		want int
	}{
		{PatientQuery{Name: "virt"}, 30},
		{PatientQuery{Name: "MÄKI"}, 30},
		{PatientQuery{Name: "laine aino1"}, 6}, // Aino1, Aino11, Aino13, ...: odd ones
		{PatientQuery{Name: "aino"}, MaxSearchResults},
		{PatientQuery{Name: "zzz"}, 0},
		{PatientQuery{Identifier: "131052-308t"}, 1},
		{PatientQuery{Identifier: "131052A308T"}, 0}, // other century, other person
	} {
		got, err := c2.SearchPatients(as(desk), tt.q)
		if err != nil || len(got) != tt.want {
			t.Errorf("%+v: %d results (%v), want %d", tt.q, len(got), err, tt.want)
		}
	}
	got, _ := c2.SearchPatients(as(desk), PatientQuery{Identifier: "131052-308T"})
	if len(got) == 1 && got[0].ID != hetuP.ID {
		t.Error("identifier search found the wrong patient")
	}
	if _, err := c2.SearchPatients(as(desk), PatientQuery{}); hush.ErrorCode(err) != hush.EINVALID {
		t.Errorf("empty query: %v", err)
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	e.user("a@x.fi", hush.RoleClinician)
	tok, err := e.c.CreateToken(e.ctx, "a@x.fi", []byte(pw), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreateToken(e.ctx, "a@x.fi", []byte("wrong password!!"), time.Hour); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("token with a wrong password: %v", err)
	}
	a1, err := e.c.Authenticate(e.ctx, tok.Secret)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := e.c.Authenticate(e.ctx, tok.Secret)
	if err != nil || a1 != a2 {
		t.Errorf("second use does not reuse the session: %v", err)
	}
	for _, bad := range []string{"", "hush_", tok.Secret + "x", strings.Replace(tok.Secret, "hush_", "hush_0", 1), tok.Secret[:len(tok.Secret)-2] + "AA"} {
		if _, err := e.c.Authenticate(e.ctx, bad); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	// Expiry.
	e.c.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := e.c.Authenticate(e.ctx, tok.Secret); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("expired token: %v", err)
	}
	e.c.now = time.Now
	// Revocation wipes the cached session and the sealed key.
	if err := e.c.RevokeToken(e.ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Authenticate(e.ctx, tok.Secret); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("revoked token: %v", err)
	}
	e.c.db.Read(e.ctx, func(tx *store.Tx) error {
		r, _ := tx.TokenByID(tok.ID)
		if len(r.SealedKey) != 0 {
			t.Error("revoked token keeps its sealed key")
		}
		return nil
	})
}

func TestWrongKEK(t *testing.T) {
	e := newEnv(t)
	if _, err := Open(e.ctx, e.dir, seal.NewTestKEK()); hush.ErrorCode(err) != hush.EUNAUTHORIZED || !strings.Contains(hush.ErrorMessage(err), "key file") {
		t.Fatalf("wrong KEK: %v", err)
	}
}

func TestUsers(t *testing.T) {
	e := newEnv(t)
	if _, err := e.c.AddUser(e.ctx, NewUser{Email: "ADMIN@x.fi", Name: "Dup", Role: hush.RoleAdmin, Password: []byte(pw)}); hush.ErrorCode(err) != hush.ECONFLICT {
		t.Errorf("duplicate email (case-insensitive): %v", err)
	}
	for _, nu := range []NewUser{
		{Email: "x", Name: "N", Role: hush.RoleAdmin, Password: []byte(pw)},
		{Email: "x@y.fi", Name: "", Role: hush.RoleAdmin, Password: []byte(pw)},
		{Email: "x@y.fi", Name: "N", Role: "boss", Password: []byte(pw)},
		{Email: "x@y.fi", Name: "N", Role: hush.RoleAdmin, Password: []byte("short")},
	} {
		if _, err := e.c.AddUser(e.ctx, nu); hush.ErrorCode(err) != hush.EINVALID {
			t.Errorf("%+v: %v", nu.Email, err)
		}
	}
	if _, err := e.c.SignIn(e.ctx, "nobody@x.fi", []byte(pw)); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("unknown user: %v", err)
	}
	if err := e.c.DeactivateUser(e.ctx, "admin@x.fi"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SignIn(e.ctx, "admin@x.fi", []byte(pw)); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("deactivated user signs in: %v", err)
	}
	u, err := e.c.UserByEmail(e.ctx, "admin@x.fi")
	if err != nil || u.Active || u.Name != "Admin" {
		t.Errorf("deactivated user stays attributable: %+v %v", u, err)
	}
}

// TestForgedEpochRefused: a database writer without the KEK inserts a new
// epoch whose seed they chose, with a valid grant to the clinician. Hush
// refuses to seal under it.
func TestForgedEpochRefused(t *testing.T) {
	e := newEnv(t)
	a := e.user("a@x.fi", hush.RoleClinician)
	p, _ := e.c.CreatePatient(as(a), hush.Patient{Family: "V", BirthDate: "1990-01-01"}, nil)
	evil := seal.NewRecordSeed()
	evilPub, _ := evil.PublicKey()
	err := e.c.db.ReadWrite(e.ctx, func(tx *store.Tx) error {
		if err := tx.InsertEpoch(p.ID, 2, evilPub.Bytes(), make([]byte, 32), 1); err != nil {
			return err
		}
		g, err := seal.SealGrant(a.Key.Public(), seal.GrantContext{Clinic: e.c.id, Record: p.ID, Epoch: 2, Principal: "user:" + a.UserID}, evil)
		if err != nil {
			return err
		}
		return tx.InsertGrant(store.GrantRow{PatientID: p.ID, Epoch: 2, Principal: "user:" + a.UserID, Sealed: g, CreatedAt: 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreateNote(as(a), p.ID, NoteInput{Kind: hush.KindFree, Status: hush.StatusSigned, Text: "secret"}); err == nil {
		t.Fatal("a note was sealed under a forged epoch")
	}
}

// TestDeactivationRekeys: deactivating a clinician starts a new epoch on each
// of their records, granted to the rest of the team and recovery only.
func TestDeactivationRekeys(t *testing.T) {
	e := newEnv(t)
	a := e.user("a@x.fi", hush.RoleClinician)
	b := e.user("b@x.fi", hush.RoleClinician)
	p, _ := e.c.CreatePatient(as(a), hush.Patient{Family: "V", BirthDate: "1990-01-01"}, []string{b.UserID})
	old, _ := e.c.CreateNote(as(a), p.ID, NoteInput{Kind: hush.KindFree, Status: hush.StatusSigned, Text: "before"})
	if err := e.c.DeactivateUser(e.ctx, "b@x.fi"); err != nil {
		t.Fatal(err)
	}
	e.c.db.Read(e.ctx, func(tx *store.Tx) error {
		if ep, _ := tx.CurrentEpoch(p.ID); ep != 2 {
			t.Errorf("epoch %d after deactivation, want 2", ep)
		}
		gs, _ := tx.Grants(p.ID)
		for _, g := range gs {
			if g.Principal == "user:"+b.UserID {
				t.Errorf("deactivated user keeps a grant on epoch %d", g.Epoch)
			}
		}
		return nil
	})
	n, err := e.c.CreateNote(as(a), p.ID, NoteInput{Kind: hush.KindFree, Status: hush.StatusSigned, Text: "after"})
	if err != nil {
		t.Fatal(err)
	}
	var row store.NoteRow
	e.c.db.Read(e.ctx, func(tx *store.Tx) error { row, err = tx.Note(n.ID, 0); return err })
	if row.Epoch != 2 {
		t.Errorf("new note in epoch %d, want 2", row.Epoch)
	}
	if got, err := e.c.Note(as(a), old.ID, 0); err != nil || got.Text != "before" {
		t.Errorf("old note after rekey: %v", err)
	}
	// b's old key opens nothing of epoch 2.
	var g2 []store.GrantRow
	e.c.db.Read(e.ctx, func(tx *store.Tx) error { g2, _ = tx.Grants(p.ID); return nil })
	for _, g := range g2 {
		if _, err := b.Key.OpenGrant(seal.GrantContext{Clinic: e.c.id, Record: p.ID, Epoch: g.Epoch, Principal: g.Principal}, g.Sealed); err == nil {
			t.Errorf("b's old key opens the %s grant of epoch %d", g.Principal, g.Epoch)
		}
	}
}

// TestSignRefusesRewrittenLog: someone who can write the database but does
// not hold the KEK rewrites the audit log (a fresh, internally valid tree,
// old checkpoints deleted). The clinic refuses to sign it and raises an
// alert; likewise for a truncated log or a missing head record.
func TestSignRefusesRewrittenLog(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		attack     func(db *sql.DB, e *env)
	}{
		{"rewritten", "audit.rewritten", func(db *sql.DB, e *env) {
			mustExec(t, db, `DELETE FROM audit_events`, `DELETE FROM audit_hashes`, `DELETE FROM audit_checkpoints`)
			forger := audit.New(e.c.db, audit.Options{Origin: e.c.audit.Origin()})
			defer forger.Close()
			err := e.c.db.ReadWrite(e.ctx, func(tx *store.Tx) error {
				for i := 0; i < 30; i++ {
					if _, err := forger.AppendTx(tx, audit.Event{ActorID: "x", Action: audit.ActLogin, Purpose: "security", Outcome: "success"}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated", "audit.truncated", func(db *sql.DB, e *env) {
			mustExec(t, db, `DELETE FROM audit_events WHERE idx >= 2`, `DELETE FROM audit_hashes WHERE id >= 3`, `DELETE FROM audit_checkpoints`)
		}},
		{"head deleted", "audit.tampered", func(db *sql.DB, e *env) {
			mustExec(t, db, `DELETE FROM audit_head`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.user("a@x.fi", hush.RoleClinician)
			if _, err := e.c.audit.Sign(e.ctx); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, store.FileName))
			if err != nil {
				t.Fatal(err)
			}
			mustExec(t, db, `DROP TRIGGER audit_events_no_delete`, `DROP TRIGGER audit_hashes_no_delete`, `DROP TRIGGER audit_checkpoints_no_delete`)
			tc.attack(db, e)
			db.Close()
			if tc.kind != "audit.truncated" {
				e.user("b@x.fi", hush.RoleClinician) // the log grows again
			}
			if _, err := e.c.audit.Sign(e.ctx); err == nil {
				t.Fatal("signed a tampered log")
			}
			alerts, _ := e.c.audit.Alerts(e.ctx)
			if len(alerts) == 0 || alerts[len(alerts)-1].Kind != tc.kind {
				t.Fatalf("alerts %+v, want %s", alerts, tc.kind)
			}
		})
	}
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestSecondFactor(t *testing.T) {
	e := newEnv(t)
	a := e.user("a@x.fi", hush.RoleClinician)
	if ok, _ := e.c.HasTOTP(e.ctx, a.UserID); ok {
		t.Fatal("enrolled before enrolment")
	}
	secret := auth.NewTOTPSecret()
	ec, err := e.c.IssueEnrolmentCode(e.ctx, a.UserID, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.EnrollTOTP(e.ctx, a.UserID, secret, "000000", ec.Code); hush.ErrorCode(err) != hush.EINVALID {
		t.Fatalf("enrol with a wrong code: %v", err)
	}
	now := time.Now()
	codes, err := e.c.EnrollTOTP(e.ctx, a.UserID, secret, auth.TOTPCode(secret, auth.StepAt(now)), ec.Code)
	if err != nil || len(codes) != 10 {
		t.Fatalf("enrol: %v %d", err, len(codes))
	}
	// The enrolment code cannot be reused; the next step's code works once.
	if err := e.c.VerifySecondFactor(e.ctx, a.UserID, auth.TOTPCode(secret, auth.StepAt(now))); err == nil {
		t.Error("the enrolment code worked again")
	}
	next := auth.TOTPCode(secret, auth.StepAt(now)+1)
	if err := e.c.VerifySecondFactor(e.ctx, a.UserID, next); err != nil {
		t.Fatalf("next code: %v", err)
	}
	if err := e.c.VerifySecondFactor(e.ctx, a.UserID, next); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("replayed code: %v", err)
	}
	// A recovery code works once.
	if err := e.c.VerifySecondFactor(e.ctx, a.UserID, strings.ToUpper(codes[3])); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	if err := e.c.VerifySecondFactor(e.ctx, a.UserID, codes[3]); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("spent recovery code: %v", err)
	}
	// The secret is sealed at rest.
	e.c.db.Read(e.ctx, func(tx *store.Tx) error {
		m, _ := tx.MFA(a.UserID)
		if strings.Contains(string(m.TOTPSealed), string(secret)) {
			t.Error("TOTP secret stored in clear")
		}
		return nil
	})
}

func TestAppointments(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@x.fi", hush.RoleClinician)
	desk := e.user("desk@x.fi", hush.RoleReception)
	dpo := e.user("dpo@x.fi", hush.RoleAuditor)
	p, err := e.c.CreatePatient(as(desk), hush.Patient{Family: "Virtanen", BirthDate: "1990-01-01"}, []string{doc.UserID})
	if err != nil {
		t.Fatal(err)
	}
	// 10:00 in Helsinki on each side of the 2026 spring DST change (29 March).
	e.c.now = func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }
	before := time.Date(2026, 3, 27, 10, 0, 0, 0, Helsinki)
	after := time.Date(2026, 3, 30, 10, 0, 0, 0, Helsinki)
	a1, err := e.c.BookAppointment(as(desk), p.ID, doc.UserID, before, 45*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if a1.Start.Hour() != 8 {
		t.Errorf("10:00 EET stored as %s UTC", a1.Start.Format("15:04"))
	}
	a2, err := e.c.BookAppointment(as(desk), p.ID, doc.UserID, after, 45*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if a2.Start.Hour() != 7 || a2.Start.In(Helsinki).Hour() != 10 {
		t.Errorf("10:00 EEST stored as %s UTC", a2.Start.Format("15:04"))
	}
	// Overlap with the same clinician is refused; back to back is fine.
	if _, err := e.c.BookAppointment(as(desk), p.ID, doc.UserID, after.Add(30*time.Minute), time.Hour); hush.ErrorCode(err) != hush.ECONFLICT {
		t.Errorf("overlap: %v", err)
	}
	if _, err := e.c.BookAppointment(as(desk), p.ID, doc.UserID, after.Add(45*time.Minute), time.Hour); err != nil {
		t.Errorf("back to back: %v", err)
	}
	for _, bad := range []time.Duration{time.Minute, 9 * time.Hour} {
		if _, err := e.c.BookAppointment(as(desk), p.ID, doc.UserID, after.Add(5*time.Hour), bad); hush.ErrorCode(err) != hush.EINVALID {
			t.Errorf("duration %v: %v", bad, err)
		}
	}
	if _, err := e.c.BookAppointment(as(desk), p.ID, desk.UserID, after.Add(5*time.Hour), time.Hour); hush.ErrorCode(err) != hush.EINVALID {
		t.Errorf("booking with a receptionist as clinician: %v", err)
	}
	if _, err := e.c.BookAppointment(as(dpo), p.ID, doc.UserID, after.Add(5*time.Hour), time.Hour); hush.ErrorCode(err) != hush.EFORBIDDEN {
		t.Errorf("auditor booking: %v", err)
	}
	// Move, then cancel; a cancelled one cannot change again.
	moved, err := e.c.ChangeAppointment(as(desk), a1.ID, ApptBooked, before.Add(2*time.Hour), time.Hour)
	if err != nil || moved.Version != 2 || moved.Start.In(Helsinki).Hour() != 12 {
		t.Fatalf("move: %v %+v", err, moved)
	}
	if _, err := e.c.ChangeAppointment(as(desk), a1.ID, ApptCancelled, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.ChangeAppointment(as(desk), a1.ID, ApptNoShow, time.Time{}, 0); hush.ErrorCode(err) != hush.ECONFLICT {
		t.Errorf("no-show of a cancelled appointment: %v", err)
	}
	// The week view lists both weeks' appointments with their status.
	week, err := e.c.Appointments(as(doc), time.Date(2026, 3, 23, 0, 0, 0, 0, Helsinki), time.Date(2026, 4, 6, 0, 0, 0, 0, Helsinki), doc.UserID)
	if err != nil || len(week) != 3 || week[0].Status != ApptCancelled {
		t.Fatalf("calendar: %v %+v", err, week)
	}
	// Times are sealed at rest; only the ISO week is clear.
	e.c.db.Read(e.ctx, func(tx *store.Tx) error {
		r, _ := tx.Appointment(a2.ID)
		if r.Week != "2026-W14" || strings.Contains(string(r.Sealed), "2026") {
			t.Errorf("row %+v", r)
		}
		return nil
	})
}

func TestMeasuresAndDiagnoses(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@x.fi", hush.RoleClinician)
	desk := e.user("desk@x.fi", hush.RoleReception)
	p, _ := e.c.CreatePatient(as(doc), hush.Patient{Family: "V", BirthDate: "1990-01-01"}, nil)
	m, err := e.c.AddMeasure(as(doc), p.ID, measures.PHQ9, []int{2, 2, 1, 1, 1, 1, 1, 1, 1})
	if err != nil || m.Result.Total != 11 || m.Result.Severity != "moderate" || !m.Result.SelfHarm {
		t.Fatalf("PHQ-9: %v %+v", err, m.Result)
	}
	if _, err := e.c.AddMeasure(as(doc), p.ID, measures.GAD7, []int{1, 2, 3}); hush.ErrorCode(err) != hush.EINVALID {
		t.Errorf("short GAD-7: %v", err)
	}
	e.c.AddMeasure(as(doc), p.ID, measures.GAD7, []int{0, 1, 0, 1, 0, 1, 0})
	ms, err := e.c.Measures(as(doc), p.ID)
	if err != nil || len(ms) != 2 || ms[0].Instrument != measures.PHQ9 {
		t.Fatalf("measures: %v %+v", err, ms)
	}
	if _, err := e.c.Measures(as(desk), p.ID); hush.ErrorCode(err) != hush.EFORBIDDEN {
		t.Errorf("reception reads measures: %v", err)
	}
	if _, err := e.c.AddMeasure(as(desk), p.ID, measures.GAD7, []int{0, 0, 0, 0, 0, 0, 0}); hush.ErrorCode(err) != hush.EFORBIDDEN {
		t.Errorf("reception adds a measure: %v", err)
	}
	for _, bad := range []string{"32.1", "FF2", "F32.", "F32.12345", "depression"} {
		if _, err := e.c.AddDiagnosis(as(doc), p.ID, bad, "", false); hush.ErrorCode(err) != hush.EINVALID {
			t.Errorf("code %q: %v", bad, err)
		}
	}
	e.c.AddDiagnosis(as(doc), p.ID, "f32.1", "Moderate depressive episode", false)
	e.c.AddDiagnosis(as(doc), p.ID, "F41.1", "Generalised anxiety disorder", false)
	e.c.AddDiagnosis(as(doc), p.ID, "F41.1", "", true)
	ds, err := e.c.Diagnoses(as(doc), p.ID)
	if err != nil || len(ds) != 1 || ds[0].Code != "F32.1" {
		t.Fatalf("diagnoses: %v %+v", err, ds)
	}
}

// TestProcessNotes: private notes open for their author only — not for a
// colleague on the same care team, not through the care team's grants.
func TestProcessNotes(t *testing.T) {
	e := newEnv(t)
	a := e.user("a@x.fi", hush.RoleClinician)
	b := e.user("b@x.fi", hush.RoleClinician)
	desk := e.user("desk@x.fi", hush.RoleReception)
	p, _ := e.c.CreatePatient(as(a), hush.Patient{Family: "V", BirthDate: "1990-01-01"}, []string{b.UserID})
	if _, err := e.c.AddProcessNote(as(a), p.ID, "my countertransference today"); err != nil {
		t.Fatal(err)
	}
	e.c.AddProcessNote(as(a), p.ID, "second thought")
	mine, err := e.c.ProcessNotes(as(a), p.ID)
	if err != nil || len(mine) != 2 || mine[0].Text != "second thought" {
		t.Fatalf("author: %v %+v", err, mine)
	}
	theirs, err := e.c.ProcessNotes(as(b), p.ID)
	if err != nil || len(theirs) != 0 {
		t.Fatalf("colleague sees %d process notes (%v)", len(theirs), err)
	}
	if _, err := e.c.AddProcessNote(as(desk), p.ID, "x"); hush.ErrorCode(err) != hush.EFORBIDDEN {
		t.Errorf("reception writes a process note: %v", err)
	}
	// The colleague's key cannot open the author's private grant.
	e.c.db.Read(e.ctx, func(tx *store.Tx) error {
		r, err := tx.PrivateRecord(p.ID, a.UserID)
		if err != nil {
			t.Fatal(err)
		}
		rec := privateRecord(p.ID, a.UserID)
		for _, principal := range []string{"user:" + a.UserID, "user:" + b.UserID} {
			if _, err := b.Key.OpenGrant(seal.GrantContext{Clinic: e.c.id, Record: rec, Epoch: 1, Principal: principal}, r.AuthorGrant); err == nil {
				t.Error("a colleague opened the author's private grant")
			}
		}
		return nil
	})
}

// TestChangePasswordRotatesKey: the new key opens every record and process
// note the old one did; the old password and key no longer work; tokens are
// revoked.
func TestChangePasswordRotatesKey(t *testing.T) {
	e := newEnv(t)
	a := e.user("a@x.fi", hush.RoleClinician)
	p, _ := e.c.CreatePatient(as(a), hush.Patient{Family: "V", BirthDate: "1990-01-01"}, nil)
	n, _ := e.c.CreateNote(as(a), p.ID, NoteInput{Kind: hush.KindFree, Status: hush.StatusSigned, Text: "before rotation"})
	e.c.AddProcessNote(as(a), p.ID, "private before rotation")
	tok, err := e.c.CreateToken(e.ctx, "a@x.fi", []byte(pw), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if must, _ := e.c.MustChangePassword(e.ctx, a.UserID); !must {
		t.Fatal("a new account need not change its password")
	}
	oldKey := a.Key
	if err := e.c.ChangePassword(as(a), []byte("short")); hush.ErrorCode(err) != hush.EINVALID {
		t.Fatalf("short password: %v", err)
	}
	if err := e.c.ChangePassword(as(a), []byte("a brand new passphrase")); err != nil {
		t.Fatal(err)
	}
	if must, _ := e.c.MustChangePassword(e.ctx, a.UserID); must {
		t.Fatal("must_change still set")
	}
	if _, err := e.c.SignIn(e.ctx, "a@x.fi", []byte(pw)); err == nil {
		t.Fatal("the old password still works")
	}
	a2, err := e.c.SignIn(e.ctx, "a@x.fi", []byte("a brand new passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.c.Note(as(a2), n.ID, 0); err != nil || got.Text != "before rotation" {
		t.Fatalf("note with the new key: %v", err)
	}
	if pn, err := e.c.ProcessNotes(as(a2), p.ID); err != nil || len(pn) != 1 {
		t.Fatalf("process notes with the new key: %v %d", err, len(pn))
	}
	if _, err := e.c.Authenticate(e.ctx, tok.Secret); err == nil {
		t.Fatal("a token sealed under the old key still works")
	}
	stale := &hush.Actor{UserID: a.UserID, Role: hush.RoleClinician, Key: oldKey}
	if _, err := e.c.Note(as(stale), n.ID, 0); err == nil {
		t.Fatal("the old key still opens the record")
	}
}

// TestUpdatePatient: a corrected directory entry reaches every process's
// in-memory directory; the old entry is kept; identity codes stay unique.
func TestUpdatePatient(t *testing.T) {
	e := newEnv(t)
	desk := e.user("desk@x.fi", hush.RoleReception)
	doc := e.user("doc@x.fi", hush.RoleClinician)
	p, _ := e.c.CreatePatient(as(desk), hush.Patient{Family: "Virtanen", Given: []string{"Aino"}, BirthDate: "1990-01-01",
		Telecom: []hush.ContactPoint{{System: "phone", Value: "+358 40 111 1111"}}}, []string{doc.UserID})
	other, err := Open(e.ctx, e.dir, e.kek) // a second process on the same data
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	p.Telecom = []hush.ContactPoint{{System: "phone", Value: "+358 40 222 2222"}}
	p.Family = "Virtanen-Laine"
	if _, err := e.c.UpdatePatient(as(desk), p); err != nil {
		t.Fatal(err)
	}
	got, err := other.Patient(as(desk), p.ID)
	if err != nil || got.Telecom[0].Value != "+358 40 222 2222" || got.Family != "Virtanen-Laine" {
		t.Fatalf("other process sees %+v %v", got, err)
	}
	if res, _ := other.SearchPatients(as(desk), PatientQuery{Name: "laine"}); len(res) != 1 {
		t.Fatalf("search after update: %d", len(res))
	}
	q, _ := e.c.CreatePatient(as(desk), hush.Patient{Family: "Korhonen", HETU: "131052-308T"}, []string{doc.UserID})
	p.HETU = "131052-308T"
	p.BirthDate = ""
	if _, err := e.c.UpdatePatient(as(desk), p); hush.ErrorCode(err) != hush.ECONFLICT {
		t.Fatalf("duplicate identity code: %v", err)
	}
	_ = q
	var n int
	e.c.db.Read(e.ctx, func(tx *store.Tx) error {
		ch, _ := tx.DirectoryChangesAfter(0)
		n = len(ch)
		return nil
	})
	if n != 3 {
		t.Fatalf("%d directory changes, want 3", n)
	}
}
