package clinic

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"fmt"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/store"
)

// tamperDB changes the database file as a writer without the KEK would.
func tamperDB(t *testing.T, dir, stmt string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt, args...); err != nil {
		t.Fatal(err)
	}
}

func cosignatureVKey(t *testing.T, name string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk := append([]byte{0x04}, pub...)
	h := sha256.Sum256(append([]byte(name+"\n"), pk...))
	return fmt.Sprintf("%s+%08x+%s", name, h[:4], base64.StdEncoding.EncodeToString(pk))
}

// TestWitnessRowTampered: a witness whose URL was changed in the database
// is not published to (publication is never redirected), and it is an
// alert.
func TestWitnessRowTampered(t *testing.T) {
	e := newEnv(t)
	var alerts []string
	e.c.Audit().OnAlert = func(kind, detail string) { alerts = append(alerts, kind) }
	if _, err := e.c.AddWitness(e.ctx, "https://witness.example/", cosignatureVKey(t, "witness.example")); err != nil {
		t.Fatal(err)
	}
	// Publish to an unreachable witness fails, but it is tried: the row
	// verifies.
	if _, err := e.c.Audit().Publish(e.ctx); err == nil {
		t.Fatal("publishing to an unreachable witness succeeded")
	}
	tamperDB(t, e.dir, `UPDATE audit_witnesses SET url = 'https://attacker.example/'`)
	if _, err := e.c.Audit().Publish(e.ctx); err != nil {
		t.Fatalf("publish with the tampered witness skipped: %v", err)
	}
	found := false
	for _, k := range alerts {
		found = found || k == "witness.integrity"
	}
	if !found {
		t.Fatalf("alerts %v, want witness.integrity", alerts)
	}
}

// TestUnstampedRowAfterUpgrade: once the clinic's rows are stamped (at
// init, or at the first open after the upgrade), removing a row's MAC does
// not make it "legacy" to be stamped again: it is refused.
func TestUnstampedRowAfterUpgrade(t *testing.T) {
	e := newEnv(t)
	desk := e.user("desk@x.fi", hush.RoleReception)
	e.c.Close()
	c, err := Open(e.ctx, e.dir, e.kek)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	tamperDB(t, e.dir, `UPDATE users SET role = 'admin', state_mac = NULL WHERE id = ?`, desk.UserID)
	c, err = Open(e.ctx, e.dir, e.kek)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.user(e.ctx, desk.UserID); err != errIntegrity {
		t.Fatalf("an unstamped row after the upgrade: %v, want the integrity refusal", err)
	}
}

// TestFirstCareTeam: a waiting-list record (registered without a
// clinician) gets its first clinician from reception through a new epoch;
// a record with content that no one holds does not (recovery's job); and
// naming a canary's clinicians trips the canary.
func TestFirstCareTeam(t *testing.T) {
	e := newEnv(t)
	desk := e.user("desk@x.fi", hush.RoleReception)
	doc := e.user("doc@x.fi", hush.RoleClinician)
	gone := e.user("gone@x.fi", hush.RoleClinician)

	w, err := e.c.CreatePatient(as(desk), hush.Patient{Family: "Odottaja", BirthDate: "1990-01-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	team, err := e.c.SetCareTeam(as(desk), w.ID, []string{doc.UserID})
	if err != nil || len(team) != 1 || team[0] != doc.UserID {
		t.Fatalf("first clinician: %v, %v", team, err)
	}
	if _, err := e.c.CreateNote(as(doc), w.ID, NoteInput{Kind: hush.KindSOAP, Status: hush.StatusSigned, Text: "first session"}); err != nil {
		t.Fatalf("the first clinician cannot write: %v", err)
	}
	if _, err := e.c.SetCareTeam(as(desk), w.ID, []string{gone.UserID}); hush.ErrorCode(err) != hush.EFORBIDDEN {
		t.Fatalf("reception changed a held team: %v", err)
	}

	// A record whose only clinician left holds content no one can open.
	p, err := e.c.CreatePatient(as(gone), hush.Patient{Family: "Orpo", BirthDate: "1980-01-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreateNote(as(gone), p.ID, NoteInput{Kind: hush.KindSOAP, Status: hush.StatusSigned, Text: "held by gone"}); err != nil {
		t.Fatal(err)
	}
	if err := e.c.DeactivateUser(e.ctx, "gone@x.fi"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SetCareTeam(as(desk), p.ID, []string{doc.UserID}); hush.ErrorCode(err) != hush.ECONFLICT {
		t.Fatalf("a first team on a record with content: %v, want a conflict", err)
	}

	ids, err := e.c.AddCanaries(e.ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SetCareTeam(as(desk), ids[0], []string{doc.UserID}); !ErrFrozen(err) {
		t.Fatalf("naming a canary's clinician: %v, want the account frozen", err)
	}
}

// TestStateDigestWhileRunning: a row put back in the file while the server
// runs (a revoked token made live again) is seen by the next sweep's check:
// an alert, and no more writes; and the next open refuses to start.
func TestStateDigestWhileRunning(t *testing.T) {
	e := newEnv(t)
	e.user("doc@x.fi", hush.RoleClinician)
	tok, err := e.c.CreateToken(e.ctx, "doc@x.fi", []byte(pw), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.RevokeToken(e.ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	e.c.CheckState(e.ctx)
	if _, err := e.c.CreateToken(e.ctx, "doc@x.fi", []byte(pw), time.Hour); err != nil {
		t.Fatalf("an untouched clinic refuses a write: %v", err)
	}
	tamperDB(t, e.dir, `UPDATE tokens SET revoked_at = NULL WHERE id = ?`, tok.ID)
	e.c.CheckState(e.ctx)
	if _, err := e.c.CreateToken(e.ctx, "doc@x.fi", []byte(pw), time.Hour); err != errIntegrity {
		t.Fatalf("a write after the state was changed in the file: %v, want the integrity refusal", err)
	}
	e.c.Close()
	if c, err := Open(e.ctx, e.dir, e.kek); err == nil {
		c.Close()
		t.Fatal("the clinic opened with a token row put back in the file")
	}
}

// TestAddElem: the digest's sum modulo 2^256 against math/big.
func TestAddElem(t *testing.T) {
	mod := new(big.Int).Lsh(big.NewInt(1), 256)
	for range 200 {
		var a, b [32]byte
		rand.Read(a[:])
		rand.Read(b[:])
		for _, sign := range []int{1, -1} {
			want := new(big.Int).SetBytes(a[:])
			if sign > 0 {
				want.Add(want, new(big.Int).SetBytes(b[:]))
			} else {
				want.Sub(want, new(big.Int).SetBytes(b[:]))
			}
			want.Mod(want, mod)
			got := addElem(a, b, sign)
			if new(big.Int).SetBytes(got[:]).Cmp(want) != 0 {
				t.Fatalf("addElem(%x, %x, %d) = %x, want %x", a, b, sign, got, want)
			}
		}
		if addElem(addElem(a, b, 1), b, -1) != a {
			t.Fatal("adding then removing an element is not the identity")
		}
	}
}

// TestNoteRollbackWithDigest: a note's newest version deleted in the file,
// with the record's head and the state digest put back as they were before
// it (so head, content count and digest agree), is found out by the later
// anchor in the audit log: the clinic refuses to open.
func TestNoteRollbackWithDigest(t *testing.T) {
	e := newEnv(t)
	a := e.user("doc@x.fi", hush.RoleClinician)
	p, err := e.c.CreatePatient(as(a), hush.Patient{Family: "Palautus", BirthDate: "1985-01-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.c.CreateNote(as(a), p.ID, NoteInput{Kind: hush.KindSOAP, Status: hush.StatusSigned, Text: "first"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(e.dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var head, digest []byte
	var gen, content int64
	if err := db.QueryRow(`SELECT mac, gen, content FROM record_heads WHERE patient_id = ?`, p.ID).Scan(&head, &gen, &content); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'state_digest'`).Scan(&digest); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.UpdateNote(as(a), n.ID, n.Version, NoteInput{Kind: hush.KindSOAP, Status: hush.StatusAmended, Text: "corrected"}); err != nil {
		t.Fatal(err)
	}
	e.c.Close()
	for _, q := range []string{
		`DROP TRIGGER notes_no_delete`,
		`DELETE FROM notes WHERE id = '` + n.ID + `' AND version = 2`,
		`CREATE TRIGGER notes_no_delete BEFORE DELETE ON notes BEGIN SELECT RAISE(ABORT, 'note versions are append-only'); END`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`UPDATE record_heads SET mac = ?, gen = ?, content = ? WHERE patient_id = ?`, head, gen, content, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE meta SET value = ? WHERE key = 'state_digest'`, digest); err != nil {
		t.Fatal(err)
	}
	if c, err := Open(e.ctx, e.dir, e.kek); err == nil {
		c.Close()
		t.Fatal("the clinic opened with a note version, its head and the digest rolled back together")
	}
}
