package cli_test

// Red team, role "dbwriter2": a database writer without the KEK, after the
// state digest (internal/clinic/digest.go). Each test performs an attack and
// asserts the defended outcome, so it FAILS while the hole exists.

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/audit/witness/witnesstest"
	"github.com/hushepr/hush/internal/auth"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// TestRedDbwriter2RevokedTokenWithDigest: TestRedDbwriterRevokedTokenReplayed
// once more, with the state digest put back too. Revoking a token changes
// only its tokens row (and the audit log); the digest names the state, not
// when it was sealed, and nothing ties it to the audit log. The writer
// copies the token row AND meta.state_digest from a copy taken before the
// revocation: every part of the digest matches the file again (the heads
// and the other small state did not move), the audit log is untouched (so
// the witnesses see nothing), and the revoked token opens the clinician's
// key once more.
func TestRedDbwriter2RevokedTokenWithDigest(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	bearer := f.tokens["doc@test.hush"]
	id, _ := tokenParts(t, bearer)
	old := f.snapshotRow(`SELECT verifier, sealed_key, key_wrapped, expires_at FROM tokens WHERE id = ?`, []any{id}, 4)
	digest := metaValue(f, "state_digest")

	f.run("token", "revoke", "--id", id)
	f.tamperArgs(`UPDATE tokens SET verifier = ?, sealed_key = ?, key_wrapped = ?, expires_at = ?, revoked_at = NULL WHERE id = ?`, append(old, id)...)
	f.tamperArgs(`UPDATE meta SET value = ? WHERE key = 'state_digest'`, digest)

	if err := f.serveOrRefuse(); err != nil {
		return // refused start: defended
	}
	r := f.doBearer(bearer, "GET", "/fhir/R4/Patient?name=Nobody")
	if r.status == 200 {
		t.Errorf("a revoked token put back with the digest of its time works again: %d", r.status)
	}
	if !hook.anyIntegrity(5 * time.Second) {
		t.Errorf("no integrity alert for a revoked token put back with an older digest")
	}
}

// TestRedDbwriter2FrozenWithDigest: TestRedDbwriterAnchorsHidden once more,
// with the digest put back too. A canary freezes reception's account; the
// writer puts back the user row AND meta.state_digest from before, and
// hides the integrity.state anchor events by relabelling their clear action
// column (checkAnchors selects on it). The frozen account works again.
func TestRedDbwriter2FrozenWithDigest(t *testing.T) {
	f, hook := canaryFixture(t)
	f.run("canary", "add", "--count", "1", "--now")
	cl := f.open()
	ids, err := cl.Canaries(context.Background())
	cl.Close()
	if err != nil || len(ids) != 1 {
		t.Fatalf("canaries %v: %v", ids, err)
	}
	desk := f.ids["desk@test.hush"]
	old := f.snapshotRow(`SELECT frozen_at, state_gen, state_mac FROM users WHERE id = ?`, []any{desk}, 3)
	digest := metaValue(f, "state_digest")

	f.serve()
	f.do("desk@test.hush", "GET", "/fhir/R4/Patient/"+ids[0], nil)
	hook.waitFor(t, "canary", desk)
	if r := f.do("desk@test.hush", "GET", "/fhir/R4/Patient?name=Nobody", nil); r.status == 200 {
		t.Fatalf("the frozen account still works: %d", r.status)
	}
	f.shutdown()
	hook.mu.Lock()
	hook.got = nil
	hook.mu.Unlock()

	f.tamperArgs(`UPDATE users SET frozen_at = ?, state_gen = ?, state_mac = ? WHERE id = ?`, append(old, desk)...)
	f.tamperArgs(`UPDATE meta SET value = ? WHERE key = 'state_digest'`, digest)
	f.relabelAudit("integrity.state", "integrity.stat")

	if err := f.serveOrRefuse(); err != nil {
		t.Logf("refused: %v", err)
		return // refused start: defended
	}
	r := f.do("desk@test.hush", "GET", "/fhir/R4/Patient?name=Nobody", nil)
	if r.status == 200 {
		t.Errorf("the frozen account works again after its row and the digest were put back and the anchors hidden: %d", r.status)
	}
	if !hook.anyIntegrity(5 * time.Second) {
		t.Errorf("no integrity alert for a rolled-back user row and digest")
	}
}

func careTeamJSON(pid string, ids ...string) map[string]any {
	var parts []any
	for _, id := range ids {
		parts = append(parts, map[string]any{"member": map[string]any{"reference": "Practitioner/" + id}})
	}
	return map[string]any{"resourceType": "CareTeam", "id": pid, "subject": map[string]any{"reference": "Patient/" + pid}, "participant": parts}
}

// TestRedDbwriter2NoFalseAlarm: an untampered clinic used as a clinic
// would be (patients, notes, care-team changes and requests, tokens,
// settings, canaries, a freeze and its review, an MFA reset, a first web
// sign-in with its password change), with command-line writes while the
// server runs and restarts between the steps, must never refuse to start
// nor raise an integrity alert: that would take a real clinic offline.
func TestRedDbwriter2NoFalseAlarm(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician", "doc2@test.hush=clinician", "desk@test.hush=reception")
	hook := alertsToWebhook(t, f)
	restart := func(step string) {
		t.Helper()
		if f.stop != nil {
			f.shutdown()
		}
		if err := f.serveOrRefuse(); err != nil {
			t.Fatalf("after %s: the untampered clinic refused to start: %v", step, err)
		}
		if hook.anyIntegrity(300 * time.Millisecond) {
			t.Fatalf("after %s: an integrity alert on an untampered clinic", step)
		}
	}
	restart("init")
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Normal", "Nelli", makeHETU(5, 6, 1977, 321), "+358401234567")))
	pid := p["id"].(string)
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "preliminary", "first visit")))
	// Command-line writes while the server runs.
	f.addUser("doc3@test.hush", "clinician")
	f.run("canary", "add", "--count", "1", "--now")
	tok := strings.TrimSpace(f.run("token", "create", "--email", "doc@test.hush", "--password-file", f.pwFile))
	tid, _ := tokenParts(t, tok)
	f.run("token", "revoke", "--id", tid)
	f.must(200, f.do("doc@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, careTeamJSON(pid, f.ids["doc@test.hush"], f.ids["doc2@test.hush"])))
	f.must(201, f.do("doc2@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "preliminary", "second visit")))
	restart("care team, CLI writes while serving")

	f.must(200, f.do("doc@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, careTeamJSON(pid, f.ids["doc@test.hush"])))
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "preliminary", "third visit")))
	b := f.browser(t, "127.0.0.1")
	b.firstSignIn("doc3@test.hush", testPassword, f.enrol["doc3@test.hush"])
	restart("removal, first sign-in")

	// Operator steps through the clinic package while the server runs (a
	// second process), then a canary freeze and its review.
	cl := f.open()
	ctx := signedIn(t, cl, "doc@test.hush")
	actx := signedIn(t, cl, "admin@test.hush")
	req, err := cl.RequestCareTeam(actx, pid, f.ids["doc3@test.hush"])
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.AnswerCareTeamRequest(ctx, req.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ResetMFA(actx, f.ids["doc3@test.hush"], false); err != nil {
		t.Fatal(err)
	}
	s, err := cl.Settings(actx)
	if err != nil {
		t.Fatal(err)
	}
	s.RateLimit = 999
	if err := cl.UpdateSettings(actx, s); err != nil {
		t.Fatal(err)
	}
	ids, err := cl.Canaries(context.Background())
	if err != nil || len(ids) != 1 {
		t.Fatalf("canaries %v %v", ids, err)
	}
	cl.CheckState(context.Background())
	cl.Close()
	f.do("desk@test.hush", "GET", "/fhir/R4/Patient/"+ids[0], nil)
	hook.waitFor(t, "canary", f.ids["desk@test.hush"])
	restart("requests, settings, MFA reset, canary freeze")
	f.run("user", "unfreeze", "--email", "desk@test.hush")
	f.must(200, f.do("desk@test.hush", "GET", "/fhir/R4/Patient?name=Nobody", nil))
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "preliminary", "fourth visit")))
	restart("unfreeze")
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "preliminary", "fifth visit")))
	f.shutdown()
}

// TestRedDbwriter2CareTeamEmptied: care_team rows are plain rows (no MAC,
// not in the digest, not in the record head). The writer marks every
// member of a patient's team removed: the server then treats the record as
// an intake record nobody holds yet, and any clinician may name its first
// team (firstCareTeam) — here mallory names herself next to the patient's
// own clinician, who notices nothing and keeps writing notes that mallory
// now reads.
func TestRedDbwriter2CareTeamEmptied(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician", "mallory@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	f.serve()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Emptied", "Eeva", makeHETU(7, 8, 1981, 234), "+358401111119")))
	pid := p["id"].(string)
	if r := f.do("mallory@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, careTeamJSON(pid, f.ids["doc@test.hush"], f.ids["mallory@test.hush"])); r.status < 400 {
		t.Fatalf("mallory names herself without any tampering: %d", r.status)
	}
	f.shutdown()

	f.tamper(`UPDATE care_team SET removed_at = 1, removed_by = 'x' WHERE patient_id = '` + pid + `' AND removed_at IS NULL`)
	if err := f.serveOrRefuse(); err != nil {
		return // refused start: defended
	}
	r := f.do("mallory@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, careTeamJSON(pid, f.ids["doc@test.hush"], f.ids["mallory@test.hush"]))
	if r.status >= 400 {
		return
	}
	n := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "preliminary", "what the patient told doc")))
	got := f.do("mallory@test.hush", "GET", "/fhir/R4/DocumentReference/"+n["id"].(string), nil)
	t.Errorf("after the care team was emptied in the file, mallory named herself to it (%d) and reads doc's new note (%d); integrity alert: %v",
		r.status, got.status, hook.anyIntegrity(time.Second))
}

// TestRedDbwriter2RemovedClinicianRestored: removing a clinician deletes
// their grants and closes their care_team row; neither is authenticated or
// counted anywhere. The writer puts the grants back from an older copy and
// reopens the care_team row: the removed clinician reads the record's
// notes again, with no alert.
func TestRedDbwriter2RemovedClinicianRestored(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician", "doc2@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	f.serve()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Removed", "Raili", makeHETU(9, 10, 1979, 345), "+358401111120")))
	pid := p["id"].(string)
	f.must(200, f.do("doc@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, careTeamJSON(pid, f.ids["doc@test.hush"], f.ids["doc2@test.hush"])))
	n := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "preliminary", "before the removal")))
	f.shutdown()
	db := openDB(t, f)
	rows, err := db.Query(`SELECT epoch, principal, sealed, created_at FROM grants WHERE patient_id = ? AND principal LIKE ?`, pid, "%"+f.ids["doc2@test.hush"]+"%")
	if err != nil {
		t.Fatal(err)
	}
	var saved [][]any
	for rows.Next() {
		v := make([]any, 4)
		if err := rows.Scan(&v[0], &v[1], &v[2], &v[3]); err != nil {
			t.Fatal(err)
		}
		saved = append(saved, v)
	}
	rows.Close()
	db.Close()
	if len(saved) == 0 {
		t.Fatal("no grant of doc2's to save")
	}

	f.serve()
	f.must(200, f.do("doc@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, careTeamJSON(pid, f.ids["doc@test.hush"])))
	if r := f.do("doc2@test.hush", "GET", "/fhir/R4/DocumentReference/"+n["id"].(string), nil); r.status == 200 {
		t.Fatalf("removed doc2 still reads the note")
	}
	f.shutdown()

	for _, v := range saved {
		f.tamperArgs(`INSERT INTO grants (patient_id, epoch, principal, sealed, created_at) VALUES (?,?,?,?,?)`, pid, v[0], v[1], v[2], v[3])
	}
	f.tamper(`UPDATE care_team SET removed_at = NULL, removed_by = NULL WHERE patient_id = '` + pid + `' AND user_id = '` + f.ids["doc2@test.hush"] + `'`)
	if err := f.serveOrRefuse(); err != nil {
		return // refused start: defended
	}
	if r := f.do("doc2@test.hush", "GET", "/fhir/R4/DocumentReference/"+n["id"].(string), nil); r.status == 200 {
		t.Errorf("the removed clinician reads the record again after grants and care_team row were put back; integrity alert: %v", hook.anyIntegrity(time.Second))
	}
}

// TestRedDbwriter2UpgradeRerunBySchemaMigrations: the one-time stamping
// runs in the process that applied migration 0012, and whether it was
// applied is the schema_migrations table, a plain table in the same file.
// The writer undoes 0012's schema changes (renames the columns it added,
// drops record_heads), deletes its schema_migrations row, swaps the
// recovery public key for their own and deletes its MAC, and hides the
// integrity.state anchors. The server re-applies 0012 and stamps the
// writer's recovery key as the clinic's, and initialises the state digest
// from whatever the file holds.
func TestRedDbwriter2UpgradeRerunBySchemaMigrations(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	alertsToWebhook(t, f)
	mine, err := seal.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	f.tamperArgs(`UPDATE meta SET value = ? WHERE key = 'recovery_public_key'`, mine.Public().Bytes())
	f.tamper(
		`DELETE FROM meta WHERE key = 'recovery_public_key_mac'`,
		`ALTER TABLE users RENAME COLUMN key_gen TO old_key_gen`,
		`ALTER TABLE users RENAME COLUMN state_gen TO old_state_gen`,
		`ALTER TABLE users RENAME COLUMN state_mac TO old_state_mac`,
		`DROP TABLE record_heads`,
		`ALTER TABLE audit_witnesses RENAME COLUMN mac TO old_mac`,
		`DELETE FROM schema_migrations WHERE name LIKE '%0012_security_state.sql'`,
	)
	f.relabelAudit("integrity.state", "integrity.stat")

	err = f.serveOrRefuse()
	if err == nil {
		f.shutdown()
	}
	db := openDB(t, f)
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM meta WHERE key = 'recovery_public_key_mac'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		t.Errorf("the one-time integrity stamping ran again (the writer's recovery key was stamped as the clinic's); start error: %v", err)
	}
}

// accountAlert waits up to d for any alert naming account.
func (wr *webhookReceiver) accountAlert(d time.Duration, account string) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		wr.mu.Lock()
		for _, a := range wr.got {
			if a["account"] == account {
				wr.mu.Unlock()
				return true
			}
		}
		wr.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// TestRedDbwriter2TripwireReplayHidden: at start the tripwires rebuild
// their counts by replaying the last 30 days of reads, selected on the
// clear audit_events.action column. Between two batches of reads that
// together cross the directory limit, the writer relabels the first
// batch's action column (the hashed record untouched, the append-only
// trigger put back): after the restart the count starts from zero and the
// sweep raises nothing. (The control run, without the relabel, alerts.)
func TestRedDbwriter2TripwireReplayHidden(t *testing.T) {
	for _, tampered := range []bool{false, true} {
		t.Run(map[bool]string{false: "control", true: "relabelled"}[tampered], func(t *testing.T) {
			f := newFixture(t, "doc@test.hush=clinician", "desk@test.hush=reception")
			hook, _ := alertsTo(t, f, func(s *clinic.Settings) { s.DirectoryLimit, s.DirectoryWindowMin, s.RateLimit = 3, 120, 1000 })
			f.serve()
			var pids []string
			for i := 0; i < 4; i++ {
				p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Swept", []string{"Aino", "Bea", "Cia", "Dora"}[i], makeHETU(1+i, 2, 1970, 400+i), "+35840222000"+string(rune('0'+i)))))
				pids = append(pids, p["id"].(string))
			}
			desk := f.ids["desk@test.hush"]
			for _, pid := range pids[:2] {
				f.must(200, f.do("desk@test.hush", "GET", "/fhir/R4/Patient/"+pid, nil))
			}
			f.shutdown()
			if tampered {
				f.relabelAudit("patient.read", "patient.rea")
			}
			f.serve()
			for _, pid := range pids[2:] {
				f.do("desk@test.hush", "GET", "/fhir/R4/Patient/"+pid, nil)
			}
			alerted := hook.accountAlert(5*time.Second, desk)
			if !tampered && !alerted {
				t.Skip("the control raised no alert: the limit did not work as assumed")
			}
			if tampered && !alerted {
				t.Errorf("reads hidden from the start-up replay by relabelling their action column: a sweep over the directory limit raised no alert")
			}
		})
	}
}

// copyDB copies hush.db (the server stopped, its log checkpointed) to dst,
// or back when back is set.
func copyDB(t *testing.T, f *fixture, dst string, back bool) {
	t.Helper()
	src := filepath.Join(f.data, store.FileName)
	from, to := src, dst
	if back {
		from, to = dst, src
		os.Remove(src + "-wal")
		os.Remove(src + "-shm")
	}
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRedDbwriter2WholeFileRollbackWitnessDropped: the state digest leaves
// a whole-file rollback to the audit log's witnesses. The witness rows are
// in the same file and in no digest: the writer puts back an older copy of
// the whole file (taken before a token was revoked) with its witness rows
// deleted. The server publishes to nobody, nothing compares the log with
// what the witness cosigned, and the revoked token works again. (The
// control, the same rollback with the witness rows kept, is noticed.)
func TestRedDbwriter2WholeFileRollbackWitnessDropped(t *testing.T) {
	for _, dropWitness := range []bool{false, true} {
		t.Run(map[bool]string{false: "control", true: "witness-dropped"}[dropWitness], func(t *testing.T) {
			f := newFixture(t, "doc@test.hush=clinician")
			hook, _ := alertsTo(t, f, nil)
			cl := f.open()
			origin, vkey := cl.Audit().Origin(), cl.AuditVerifierKey()
			cl.Close()
			w := witnesstest.Start(t, origin, vkey)
			f.run("audit", "witness", "--data", f.data, "--kek-file", f.kek, "--url", w.URL, "--vkey", w.Verifier.(fmt.Stringer).String())
			bearer := f.tokens["doc@test.hush"]
			id, _ := tokenParts(t, bearer)

			f.serve("--checkpoint-interval", "50ms")
			f.must(200, f.do("doc@test.hush", "GET", "/fhir/R4/Patient?name=Nobody", nil))
			time.Sleep(300 * time.Millisecond)
			f.shutdown()
			old := filepath.Join(f.root, "old.db")
			copyDB(t, f, old, false)

			f.run("token", "revoke", "--id", id)
			f.serve("--checkpoint-interval", "50ms")
			f.must(200, f.do("admin@test.hush", "GET", "/fhir/R4/Patient?name=Nobody", nil))
			time.Sleep(300 * time.Millisecond)
			f.shutdown()
			before := latestCosigned(t, f)

			copyDB(t, f, old, true)
			if dropWitness {
				f.tamper(`DELETE FROM audit_cosignatures`, `DELETE FROM audit_witnesses`)
			}
			hook.mu.Lock()
			hook.got = nil
			hook.mu.Unlock()
			if err := f.serveOrRefuse(); err != nil {
				return // refused start: defended
			}
			f.shutdown() // serveOrRefuse takes no flags: serve again with a short checkpoint interval
			f.serve("--checkpoint-interval", "50ms")
			r := f.doBearer(bearer, "GET", "/fhir/R4/Patient?name=Nobody")
			f.do("admin@test.hush", "GET", "/fhir/R4/Patient?name=Nobody", nil)
			noticed := hook.anyIntegrity(5*time.Second, "witness.ahead", "witness.refused", "witness.integrity")
			t.Logf("cosigned before the rollback %d; revoked token now %d; noticed %v", before, r.status, noticed)
			if !noticed && r.status == 200 {
				if !dropWitness {
					t.Skip("the control rollback went unnoticed too: the witness set-up did not work as assumed")
				}
				t.Errorf("a whole-file rollback with the witness rows deleted goes unnoticed, and the revoked token works again")
			}
		})
	}
}

// TestRedDbwriter2OldAuthenticatorRestored: a clinician's phone (their
// authenticator) is stolen; the admin resets the second factor and the
// holder enrols a new one. The TOTP secret is sealed bound only to the
// clinic and the user, recovery codes are MACs bound only to the user and
// the code, and the account's state MAC counts factors (TOTP yes/no, codes
// used), not which ones. The writer puts back the old user_mfa row and the
// old recovery codes: the stolen authenticator (and the old printed codes)
// pass the second step again, with no alert.
func TestRedDbwriter2OldAuthenticatorRestored(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	f.serve()
	b := f.browser(t, "127.0.0.1")
	secret1, codes1 := b.firstSignIn("doc@test.hush", testPassword, f.enrol["doc@test.hush"])
	f.shutdown()
	doc := f.ids["doc@test.hush"]
	oldTOTP := f.snapshotRow(`SELECT totp_sealed FROM user_mfa WHERE user_id = ?`, []any{doc}, 1)
	db := openDB(t, f)
	rows, err := db.Query(`SELECT code_mac FROM recovery_codes WHERE user_id = ?`, doc)
	if err != nil {
		t.Fatal(err)
	}
	var oldCodes [][]byte
	for rows.Next() {
		var m []byte
		rows.Scan(&m)
		oldCodes = append(oldCodes, m)
	}
	rows.Close()
	db.Close()

	// The phone is stolen: the admin resets the second factor, the holder
	// enrols a new authenticator.
	code2 := enrolmentCode(t, f.run("user", "reset-mfa", "--email", "doc@test.hush", "--show-code"))
	f.serve()
	b2 := f.browser(t, "127.0.0.2")
	if p := b2.signIn("doc@test.hush", signinNewPassword); p.path != "/signin/code" {
		t.Fatalf("after the reset: %s (%d)", p.path, p.status)
	}
	p := b2.post("/signin/code", url.Values{"code": {code2}})
	m := totpKeyRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no new TOTP key at %s (%d)", p.path, p.status)
	}
	secret2, err := auth.TOTPSecretFromText(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if p = b2.post("/signin/enroll", url.Values{"code": {auth.TOTPCode(secret2, auth.StepAt(time.Now()))}}); p.path != "/signin/codes" {
		t.Fatalf("re-enrolment at %s (%d)", p.path, p.status)
	}
	b2.post("/signin/codes", nil)
	f.shutdown()

	f.tamperArgs(`UPDATE user_mfa SET totp_sealed = ?, last_step = 0 WHERE user_id = ?`, oldTOTP[0], doc)
	f.tamperArgs(`DELETE FROM recovery_codes WHERE user_id = ?`, doc)
	for _, c := range oldCodes {
		f.tamperArgs(`INSERT INTO recovery_codes (user_id, code_mac) VALUES (?, ?)`, doc, c)
	}
	if err := f.serveOrRefuse(); err != nil {
		return // refused start: defended
	}
	b3 := f.browser(t, "127.0.0.3")
	if p := b3.signIn("doc@test.hush", signinNewPassword); p.path != "/signin/mfa" {
		if p.status >= 500 && hook.anyIntegrity(5*time.Second) {
			return // the account's factors no longer match its state: refused and alerted, defended
		}
		t.Fatalf("sign-in at %s (%d)", p.path, p.status)
	}
	if p := b3.post("/signin/mfa", url.Values{"code": {auth.TOTPCode(secret1, auth.StepAt(time.Now()))}}); p.path == "/patients" {
		t.Errorf("the stolen authenticator passes the second step again after the old user_mfa row was put back; integrity alert: %v", hook.anyIntegrity(time.Second))
	}
	b4 := f.browser(t, "127.0.0.4")
	b4.signIn("doc@test.hush", signinNewPassword)
	if p := b4.post("/signin/mfa", url.Values{"code": {codes1[0]}}); p.path == "/patients" {
		t.Errorf("an old recovery code, replaced at the reset, passes the second step again")
	}
}

// TestRedDbwriter2NoFalseAlarmAdmin: more of an untampered clinic's
// administration, some of it from the command line while the server runs:
// a recovery grant, a deactivation (records re-keyed), a short-lived token
// that expires (its key erased by the sweep at open), a backup. No refused
// start and no integrity alert.
func TestRedDbwriter2NoFalseAlarmAdmin(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician", "doc2@test.hush=clinician", "new@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	restart := func(step string) {
		t.Helper()
		if f.stop != nil {
			f.shutdown()
		}
		if err := f.serveOrRefuse(); err != nil {
			t.Fatalf("after %s: the untampered clinic refused to start: %v", step, err)
		}
		if hook.anyIntegrity(300 * time.Millisecond) {
			t.Fatalf("after %s: an integrity alert on an untampered clinic", step)
		}
	}
	restart("init")
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Admin", "Aila", makeHETU(5, 7, 1975, 521), "+358401234568")))
	pid := p["id"].(string)
	f.must(200, f.do("doc@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, careTeamJSON(pid, f.ids["doc@test.hush"], f.ids["doc2@test.hush"])))
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "preliminary", "a visit")))
	share := func(i int) string { return filepath.Join(f.shares, fmt.Sprintf("recovery-share-%d.txt", i)) }
	f.run("recover", "grant", "--share", share(1), "--share", share(2), "--patient", pid, "--email", "new@test.hush")
	f.run("user", "deactivate", "--email", "doc2@test.hush")
	f.run("token", "create", "--email", "doc@test.hush", "--password-file", f.pwFile, "--ttl", "1s")
	f.must(201, f.do("new@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "preliminary", "after the recovery")))
	if _, err := f.try("backup", "--data", f.data, "--kek-file", f.kek, "--out", filepath.Join(f.root, "backup.db")); err != nil {
		t.Logf("backup: %v", err)
	}
	time.Sleep(1500 * time.Millisecond)
	restart("recovery grant, deactivation, token expiry while serving")
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "preliminary", "later")))
	restart("later")
	f.shutdown()
}

// TestRedDbwriter2NoteAmendmentRolledBack: note versions are "never
// changed, never removed" by a trigger the writer can drop. A signed note
// is amended (a correction that matters clinically); the writer drops the
// trigger, deletes the amendment's row and recreates the trigger. The
// record serves the uncorrected version as the current one, with no
// alert: nothing counts a note's versions (no head, no digest, no anchor).
func TestRedDbwriter2NoteAmendmentRolledBack(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	f.serve()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Amended", "Anni", makeHETU(3, 3, 1973, 612), "+358401111130")))
	pid := p["id"].(string)
	n := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "allergy: none")))
	nid := n["id"].(string)
	f.must(200, f.do("doc@test.hush", "PUT", "/fhir/R4/DocumentReference/"+nid, noteJSON(pid, "SOAP", "amended", "CORRECTION allergy: penicillin")))
	f.shutdown()

	f.tamper(
		`DROP TRIGGER notes_no_delete`,
		`DELETE FROM notes WHERE id = '`+nid+`' AND version = (SELECT max(version) FROM notes WHERE id = '`+nid+`')`,
		`CREATE TRIGGER notes_no_delete BEFORE DELETE ON notes
BEGIN SELECT RAISE(ABORT, 'note versions are append-only'); END`,
	)
	if err := f.serveOrRefuse(); err != nil {
		return
	}
	r := f.do("doc@test.hush", "GET", "/fhir/R4/DocumentReference/"+nid, nil)
	if r.status == 200 && !strings.Contains(string(r.body), "penicillin") {
		t.Errorf("the note's amendment was removed in the file and the uncorrected version is served as current; integrity alert: %v", hook.anyIntegrity(time.Second))
	}
}

// TestRedDbwriter2LiveTokenRestore: the writer does not stop the server:
// SQLite lets a second process write while it runs. A token is revoked
// (hush token revoke while the server runs); the writer puts the row back
// at once (verifier, wrapped sealed key, no revoked_at). Token requests read
// the row unverified: the digest is compared only at security writes and at
// the minute's sweep, and when the sweep finds the mismatch it stops writes
// only (stateBad is not consulted by authenticateToken), so the revoked
// token keeps opening the clinician's key for reads until someone restarts
// the server.
func TestRedDbwriter2LiveTokenRestore(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	alertsToWebhook(t, f)
	bearer := f.tokens["doc@test.hush"]
	id, _ := tokenParts(t, bearer)
	old := f.snapshotRow(`SELECT verifier, sealed_key, key_wrapped, expires_at FROM tokens WHERE id = ?`, []any{id}, 4)
	f.serve()
	f.run("token", "revoke", "--id", id)
	if r := f.doBearer(bearer, "GET", "/fhir/R4/Patient?name=Nobody"); r.status == 200 {
		t.Fatalf("the revoked token still works: %d", r.status)
	}
	revoked := f.snapshotRow(`SELECT revoked_at, sealed_key, key_wrapped FROM tokens WHERE id = ?`, []any{id}, 3)
	f.tamperArgs(`UPDATE tokens SET verifier = ?, sealed_key = ?, key_wrapped = ?, expires_at = ?, revoked_at = NULL WHERE id = ?`, append(old, id)...)
	if r := f.doBearer(bearer, "GET", "/fhir/R4/Patient?name=Nobody"); r.status == 200 {
		t.Errorf("a revoked token put back while the server runs works at once: %d", r.status)
	}
	f.shutdown()

	// The same in one process, with the sweep's check run after the edit
	// (the file put back as it was first).
	f.tamperArgs(`UPDATE tokens SET revoked_at = ?, sealed_key = coalesce(?, X''), key_wrapped = ? WHERE id = ?`, append(revoked, id)...)
	tok := strings.TrimSpace(f.run("token", "create", "--email", "doc@test.hush", "--password-file", f.pwFile))
	id2, _ := tokenParts(t, tok)
	old2 := f.snapshotRow(`SELECT verifier, sealed_key, key_wrapped, expires_at FROM tokens WHERE id = ?`, []any{id2}, 4)
	cl := f.open()
	defer cl.Close()
	ctx := context.Background()
	if err := cl.RevokeToken(ctx, id2); err != nil {
		t.Fatal(err)
	}
	f.tamperArgs(`UPDATE tokens SET verifier = ?, sealed_key = ?, key_wrapped = ?, expires_at = ?, revoked_at = NULL WHERE id = ?`, append(old2, id2)...)
	cl.CheckState(ctx) // the sweep: notices, alerts, stops writes
	if _, err := cl.Authenticate(ctx, tok); err == nil {
		t.Errorf("after the sweep found the state changed, the revoked token put back still authenticates")
	}
}

// TestRedDbwriter2AlertListRelabelled: the admins' alert list (Alerts, the
// web app's /admin/alerts) selects alert events on the clear
// audit_events.action column. The writer relabels the integrity and canary
// alerts' action column (the hashed record untouched, the trigger put
// back): the list the admins review no longer shows them. (The remote
// channels got them once; the list is where an admin looks afterwards.)
func TestRedDbwriter2AlertListRelabelled(t *testing.T) {
	t.Skip("known limit (low): the admins' alert list selects alert events by the clear action column; every alert already went to the remote channels when it was raised, and hush audit verify reports the relabelled column. See docs/threat-model.md, The database writer, What remains.")
	f, hook := canaryFixture(t)
	f.run("canary", "add", "--count", "1", "--now")
	cl := f.open()
	ids, err := cl.Canaries(context.Background())
	cl.Close()
	if err != nil || len(ids) != 1 {
		t.Fatalf("canaries %v: %v", ids, err)
	}
	f.serve()
	f.do("desk@test.hush", "GET", "/fhir/R4/Patient/"+ids[0], nil)
	hook.waitFor(t, "canary", f.ids["desk@test.hush"])
	f.shutdown()
	f.relabelAudit("alert.canary", "audit.read")

	cl = f.open()
	defer cl.Close()
	ctx := signedIn(t, cl, "admin@test.hush")
	alerts, err := cl.Alerts(ctx, 50, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if a.Action == "alert.canary" {
			return
		}
	}
	t.Errorf("the canary alert is gone from the admins' alert list after its clear action column was relabelled (%d alerts listed)", len(alerts))
}
