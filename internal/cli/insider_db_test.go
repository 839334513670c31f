package cli_test

// The database writer without the KEK (docs/threat-model.md): each test
// changes the real SQLite file between runs of the real server, with the
// key file withheld from the attacker, and shows the defended outcome — a
// refused start or a refused write, plus an alert on the clinic's webhook —
// never a silent success.

import (
	"context"
	"database/sql"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/hushepr/hush/internal/auth"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// alertsToWebhook points the clinic's alert channel at a real webhook
// receiver on loopback (as an admin would on the settings page).
func alertsToWebhook(t *testing.T, f *fixture) *webhookReceiver {
	t.Helper()
	hook := &webhookReceiver{secret: []byte("a webhook secret of at least 32 bytes!")}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	cl := f.open()
	defer cl.Close()
	s := clinic.DefaultSettings()
	s.Hours = [7]string{"00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00"}
	s.RateLimit = 1000
	s.WebhookURL, s.WebhookSecret = srv.URL+"/hush-alerts", string(hook.secret)
	if err := cl.UpdateSettings(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return hook
}

// waitKind waits for an alert of kind (whatever its account).
func (wr *webhookReceiver) waitKind(t *testing.T, kind string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		wr.mu.Lock()
		for _, a := range wr.got {
			if a["kind"] == kind {
				wr.mu.Unlock()
				return a
			}
		}
		wr.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s alert reached the webhook", kind)
	return nil
}

// tamper edits hush.db as a database writer without the KEK would: plain
// SQL on the file, with the server stopped.
func (f *fixture) tamper(stmts ...string) {
	f.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(f.data, store.FileName))
	if err != nil {
		f.t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			f.t.Fatalf("tamper %q: %v", s, err)
		}
	}
}

// tamperArgs runs one statement with arguments.
func (f *fixture) tamperArgs(stmt string, args ...any) {
	f.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(f.data, store.FileName))
	if err != nil {
		f.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt, args...); err != nil {
		f.t.Fatalf("tamper %q: %v", stmt, err)
	}
}

// snapshotRow returns the given columns of one row, for putting back later.
func (f *fixture) snapshotRow(query string, args []any, n int) []any {
	f.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(f.data, store.FileName))
	if err != nil {
		f.t.Fatal(err)
	}
	defer db.Close()
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := db.QueryRow(query, args...).Scan(ptrs...); err != nil {
		f.t.Fatal(err)
	}
	return vals
}

// signedIn returns a context with the user signed in, for operator-side
// steps done with the clinic package while the server is stopped.
func signedIn(t *testing.T, cl *clinic.Clinic, email string) context.Context {
	t.Helper()
	a, err := cl.SignIn(context.Background(), email, []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	return hush.WithActor(context.Background(), a)
}

// TestInsiderRecoveryKeySwap: swapping the recovery public key for one's
// own (so that every new record is also granted to it) stops the server
// from starting, and the clinic is alerted.
func TestInsiderRecoveryKeySwap(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	mine, err := seal.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	f.tamperArgs(`UPDATE meta SET value = ? WHERE key = 'recovery_public_key'`, mine.Public().Bytes())
	_, err = f.try("serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(hush.ErrorMessage(err), "recovery public key") {
		t.Fatalf("serve with a swapped recovery key: %v, want a refused start", err)
	}
	hook.waitKind(t, "integrity.recovery_key")
	// Every other command that opens the clinic refuses too.
	if _, err := f.try("user", "add", "--email", "x@test.hush", "--name", "X", "--role", "clinician", "--password-file", f.pwFile); err == nil {
		t.Fatal("user add ran with a swapped recovery key")
	}
}

// epochTwoPatient registers a patient of doc's (with a note, when note is
// not empty), then has doc2 join the care team and leave it: epoch 2 is
// sealed to doc alone, and doc2 keeps its grant to epoch 1 only. The
// server is stopped when it returns.
func epochTwoPatient(t *testing.T, f *fixture, note string) string {
	t.Helper()
	f.serve()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Rollback", "Riikka", makeHETU(3, 4, 1980, 123), "+358401111111")))
	pid := p["id"].(string)
	if note != "" {
		f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "preliminary", note)))
	}
	f.shutdown()
	cl := f.open()
	ctx := signedIn(t, cl, "doc@test.hush")
	if _, err := cl.SetCareTeam(ctx, pid, []string{f.ids["doc@test.hush"], f.ids["doc2@test.hush"]}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SetCareTeam(ctx, pid, []string{f.ids["doc@test.hush"]}); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	return pid
}

// TestInsiderEpochRollback: deleting a record's newest key epoch (and its
// grants), so that new notes would be sealed under an older epoch that a
// removed clinician still holds, is noticed: the write is refused and
// alerted, and no note reaches the older epoch.
func TestInsiderEpochRollback(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician", "doc2@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	pid := epochTwoPatient(t, f, "before the rollback")

	// The attack: put epoch 1 back as the newest (and give doc2 a grant to
	// epoch 1 again, as an old copy would have it — not needed for the
	// rollback itself).
	f.tamper(
		`DELETE FROM grants WHERE patient_id = '`+pid+`' AND epoch = 2`,
		`DELETE FROM record_epochs WHERE patient_id = '`+pid+`' AND epoch = 2`,
	)
	f.serve()
	r := f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "preliminary", "after the rollback"))
	if r.status == 201 {
		t.Fatalf("a note was written after the epoch rollback: %s", r.body)
	}
	hook.waitKind(t, "integrity.record")
	f.shutdown()
	var n int
	v := f.snapshotRow(`SELECT count(*) FROM notes WHERE patient_id = ?`, []any{pid}, 1)
	n = int(v[0].(int64))
	if n != 1 {
		t.Fatalf("%d note versions on the rolled-back record, want only the one from before", n)
	}
}

// TestInsiderKeyReplay: putting back a clinician's retired public key
// (from an old copy) — the key and its MAC alone, or the whole user row
// with its then-valid state MAC — does not make new grants go to it.
func TestInsiderKeyReplay(t *testing.T) {
	for _, whole := range []bool{false, true} {
		name := "key and MAC"
		if whole {
			name = "whole row"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "doc@test.hush=clinician", "doc2@test.hush=clinician")
			hook := alertsToWebhook(t, f)
			doc := f.ids["doc@test.hush"]
			old := f.snapshotRow(`SELECT public_key, public_key_mac, key_gen, state_gen, state_mac, pw_salt, pw_verifier, pw_key FROM users WHERE id = ?`, []any{doc}, 8)

			// doc's first sign-in replaces the key pair chosen under the
			// admin's password.
			cl := f.open()
			if err := cl.ChangePassword(signedIn(t, cl, "doc@test.hush"), []byte("a new password of my own")); err != nil {
				t.Fatal(err)
			}
			cl.Close()

			if whole {
				f.tamperArgs(`UPDATE users SET public_key = ?, public_key_mac = ?, key_gen = ?, state_gen = ?, state_mac = ?, pw_salt = ?, pw_verifier = ?, pw_key = ? WHERE id = ?`, append(old, doc)...)
			} else {
				f.tamperArgs(`UPDATE users SET public_key = ?, public_key_mac = ? WHERE id = ?`, old[0], old[1], doc)
			}
			// The whole row put back (MACs and all) no longer matches the
			// clinic's state digest: the server refuses to start. The key
			// alone does not verify against the row: either way doc's
			// account is named in an alert, and if the server does start,
			// no grant goes to the retired key.
			if err := f.serveOrRefuse(); err == nil {
				// doc2 registers a patient with doc on the team: the grant
				// to doc must not be sealed to the retired key.
				r := f.do("doc2@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Replay", "Reijo", makeHETU(5, 6, 1979, 124), "+358401111112", doc))
				if r.status == 201 {
					t.Fatalf("a record was granted to a replayed key: %s", r.body)
				}
			} else if !whole {
				t.Errorf("the key alone put back refused the start (%v): only the account should stop", err)
			}
			hook.waitFor(t, "integrity.user", doc)
			if whole {
				hook.waitKind(t, "integrity.state")
			}
		})
	}
}

// TestInsiderSecurityState: the security state of users and records cannot
// be changed in the file unnoticed. Each change is made with the server
// stopped; after the restart the change does not take effect, the account
// or record it touched is refused, and an alert arrives.
func TestInsiderSecurityState(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician", "desk@test.hush=reception", "gone@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	doc, desk, gone := f.ids["doc@test.hush"], f.ids["desk@test.hush"], f.ids["gone@test.hush"]

	// doc enrols a TOTP second factor; gone is deactivated.
	cl := f.open()
	secret := auth.NewTOTPSecret()
	if _, err := cl.EnrollTOTP(context.Background(), doc, secret, auth.TOTPCode(secret, auth.StepAt(time.Now())), f.enrol["doc@test.hush"]); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	f.run("user", "deactivate", "--email", "gone@test.hush")

	f.serve()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Directory", "Dora", makeHETU(7, 8, 1981, 125), "+358401111113")))
	pid := p["id"].(string)
	f.shutdown()
	// A correction of the phone number: the old entry goes to the history.
	cl = f.open()
	dctx := signedIn(t, cl, "doc@test.hush")
	cur, err := cl.Patient(dctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	cur.Telecom = []hush.ContactPoint{{System: "phone", Value: "+358409999999"}}
	if _, err := cl.UpdatePatient(dctx, cur); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	f.tamper(
		// reception → admin
		`UPDATE users SET role = 'admin' WHERE id = '`+desk+`'`,
		// a deactivated account back to life
		`UPDATE users SET active = 1 WHERE id = '`+gone+`'`,
		// the TOTP row deleted: a password-only re-enrolment
		`DELETE FROM recovery_codes WHERE user_id = '`+doc+`'`,
		`DELETE FROM user_mfa WHERE user_id = '`+doc+`'`,
		// the directory entry rolled back to the one before the correction
		`UPDATE patients SET directory = (SELECT directory FROM patient_directory_history WHERE patient_id = '`+pid+`') WHERE id = '`+pid+`'`,
	)
	f.serve()
	if r := f.do("desk@test.hush", "GET", "/fhir/R4/AuditEvent", nil); r.status == 200 {
		t.Errorf("reception turned admin read the audit log: %d", r.status)
	}
	if r := f.do("desk@test.hush", "GET", "/fhir/R4/Patient?name=Directory", nil); r.status == 200 {
		t.Errorf("the tampered reception account still works: %d", r.status)
	}
	if r := f.do("doc@test.hush", "GET", "/fhir/R4/Patient/"+pid, nil); r.status == 200 && strings.Contains(string(r.body), "+358401111113") {
		t.Errorf("the rolled-back directory entry was served: %s", r.body)
	}
	for _, id := range []string{desk, doc, gone} {
		hook.waitFor(t, "integrity.user", id)
	}
	hook.waitKind(t, "integrity.record")
	// The rest of the clinic works: the admin still reads the audit log.
	f.must(200, f.do("admin@test.hush", "GET", "/fhir/R4/AuditEvent?_count=5", nil))
}
