package cli_test

// Red team, role "dbwriter": a database writer without the KEK (stops the
// server, edits hush.db with plain SQL, replays rows from an older copy of
// the same clinic, restarts the real server). Each test performs an attack
// that still worked on the reviewed code and asserts the defended outcome,
// so it FAILS while the hole exists.

import (
	"context"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/cli"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/seal"
)

// serveOrRefuse starts hush serve like f.serve, but returns the error of a
// refused start instead of failing the test (a refused start is one
// defended outcome of a tampered file).
func (f *fixture) serveOrRefuse() error {
	f.t.Helper()
	// The clinic itself may refuse to open (the certificate is read from it).
	kek, err := seal.LoadKEKFile(f.kek)
	if err != nil {
		f.t.Fatal(err)
	}
	cl, err := clinic.Open(context.Background(), f.data, kek)
	if err != nil {
		return err
	}
	cl.Close()
	f.client = f.httpClient()
	ctx, cancel := context.WithCancel(context.Background())
	lw := &lineWriter{c: make(chan string, 1)}
	stopped := make(chan error, 1)
	go func() {
		stopped <- cli.Run(ctx, []string{"serve", "--data", f.data, "--kek-file", f.kek, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"},
			cli.Env{Getenv: func(string) string { return "" }, Stdout: lw, Stderr: io.Discard})
	}()
	select {
	case line := <-lw.c:
		f.url = strings.TrimPrefix(line, "serving ")
		f.stop, f.stopped = cancel, stopped
		f.t.Cleanup(f.shutdown)
		return nil
	case err := <-stopped:
		cancel()
		return err
	case <-time.After(30 * time.Second):
		cancel()
		f.t.Fatal("serve did not start")
		return nil
	}
}

// anyIntegrity waits up to d for an integrity.* alert, or one of also.
func (wr *webhookReceiver) anyIntegrity(d time.Duration, also ...string) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		wr.mu.Lock()
		for _, a := range wr.got {
			k, _ := a["kind"].(string)
			if strings.HasPrefix(k, "integrity.") {
				wr.mu.Unlock()
				return true
			}
			for _, x := range also {
				if k == x {
					wr.mu.Unlock()
					return true
				}
			}
		}
		wr.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func metaValue(f *fixture, key string) []byte {
	f.t.Helper()
	v := f.snapshotRow(`SELECT value FROM meta WHERE key = ?`, []any{key}, 1)
	b, _ := v[0].([]byte)
	return b
}

// TestRedDbwriterRevokedTokenReplayed: a clinician's token leaks and the
// admin revokes it (the sealed key is erased). The writer puts the token
// row back from a copy taken before the revocation (verifier, wrapped
// sealed key, no revoked_at). The row is bound to nothing that moved on —
// the KEK wrap binds clinic, user and token id, not a generation — so the
// running server (which holds the KEK) opens the clinician's private key
// for the thief again.
func TestRedDbwriterRevokedTokenReplayed(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	bearer := f.tokens["doc@test.hush"]
	id, _ := tokenParts(t, bearer)
	old := f.snapshotRow(`SELECT verifier, sealed_key, key_wrapped, expires_at FROM tokens WHERE id = ?`, []any{id}, 4)

	f.run("token", "revoke", "--id", id)
	f.tamperArgs(`UPDATE tokens SET verifier = ?, sealed_key = ?, key_wrapped = ?, expires_at = ?, revoked_at = NULL WHERE id = ?`, append(old, id)...)

	if err := f.serveOrRefuse(); err != nil {
		return // refused start: defended
	}
	r := f.doBearer(bearer, "GET", "/fhir/R4/Patient?name=Nobody")
	t.Logf("status %d", r.status)
	if r.status == 200 {
		t.Errorf("a revoked token put back from an old copy works again: %d", r.status)
	}
	if !hook.anyIntegrity(5 * time.Second) {
		t.Errorf("no integrity alert for a revoked token put back in the file")
	}
}

// TestRedDbwriterTokenExpiryExtended: expires_at is a clear, unauthenticated
// column. The writer clears it (or moves it to the far future) on a token
// that has not expired yet; the token then never expires, and the sweep that
// erases expired tokens' keys never touches it.
func TestRedDbwriterTokenExpiryExtended(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	bearer := strings.TrimSpace(f.run("token", "create", "--email", "doc@test.hush", "--password-file", f.pwFile, "--ttl", "3s"))
	id, _ := tokenParts(t, bearer)
	f.tamperArgs(`UPDATE tokens SET expires_at = NULL WHERE id = ?`, id)
	time.Sleep(4 * time.Second) // the token's own lifetime is over

	if err := f.serveOrRefuse(); err != nil {
		return
	}
	r := f.doBearer(bearer, "GET", "/fhir/R4/Patient?name=Nobody")
	t.Logf("status %d", r.status)
	if r.status == 200 {
		t.Errorf("a token past its expiry works after expires_at was cleared in the file: %d", r.status)
	}
	if !hook.anyIntegrity(5 * time.Second) {
		t.Errorf("no integrity alert for a token whose expiry was changed in the file")
	}
}

// TestRedDbwriterSettingsRollback: the clinic's settings (alert channels,
// tripwire limits, the kill switch) are one sealed meta row with no
// generation and no anchor. Deleting it falls back to DefaultSettings (no
// webhook, no e-mail: alerts go only to the operator log on the server the
// attacker controls); putting back an older sealed blob (from a time the
// tripwires were off, or alerts went elsewhere) applies it silently. Then a
// canary read raises nothing on the clinic's remote channel.
func TestRedDbwriterSettingsRollback(t *testing.T) {
	for _, mode := range []string{"deleted", "replayed"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t, "desk@test.hush=reception")
			hook := alertsToWebhook(t, f)
			var older []byte
			if mode == "replayed" {
				// Once (say, during a data import) the admin switched the
				// tripwires off, then back on.
				cl := f.open()
				s, err := cl.Settings(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				s.TripwiresOff = true
				if err := cl.UpdateSettings(context.Background(), s); err != nil {
					t.Fatal(err)
				}
				cl.Close()
				older = metaValue(f, "settings")
				cl = f.open()
				s.TripwiresOff = false
				if err := cl.UpdateSettings(context.Background(), s); err != nil {
					t.Fatal(err)
				}
				cl.Close()
			}
			cl := f.open()
			canaries, err := cl.AddCanaries(context.Background(), 1)
			cl.Close()
			if err != nil {
				t.Fatal(err)
			}

			if mode == "deleted" {
				f.tamper(`DELETE FROM meta WHERE key = 'settings'`)
			} else {
				f.tamperArgs(`UPDATE meta SET value = ? WHERE key = 'settings'`, older)
			}
			if err := f.serveOrRefuse(); err != nil {
				return // refused start: defended
			}
			f.do("desk@test.hush", "GET", "/fhir/R4/Patient/"+canaries[0], nil)
			if !hook.anyIntegrity(10*time.Second, "canary") {
				t.Fatalf("settings %s in the file: a canary read raised nothing on the clinic's webhook", mode)
			}
		})
	}
}

// TestRedDbwriterCanaryUnmarked: the canary list is one sealed meta row with
// no generation and no anchor. Deleting it, or putting back the list from
// before a canary was planted, unmarks canaries: reading one trips nothing.
func TestRedDbwriterCanaryUnmarked(t *testing.T) {
	for _, mode := range []string{"deleted", "replayed"} {
		t.Run(mode, func(t *testing.T) {
			f, hook := canaryFixture(t)
			var older []byte
			if mode == "replayed" {
				f.run("canary", "add", "--count", "1", "--now")
				older = metaValue(f, "canaries")
			}
			f.run("canary", "add", "--count", "1", "--now")
			cl := f.open()
			ids, err := cl.Canaries(context.Background())
			cl.Close()
			if err != nil || len(ids) == 0 {
				t.Fatalf("canaries %v: %v", ids, err)
			}
			target := ids[len(ids)-1] // the newest: absent from the older list
			if mode == "deleted" {
				f.tamper(`DELETE FROM meta WHERE key = 'canaries'`)
			} else {
				f.tamperArgs(`UPDATE meta SET value = ? WHERE key = 'canaries'`, older)
			}
			if err := f.serveOrRefuse(); err != nil {
				return
			}
			r := f.do("desk@test.hush", "GET", "/fhir/R4/Patient/"+target, nil)
			if !hook.anyIntegrity(10*time.Second, "canary") {
				t.Fatalf("canary list %s in the file: reading the canary (%d) raised no alert", mode, r.status)
			}
		})
	}
}

// TestRedDbwriterAnchorsHidden: the start-up anchor check (checkAnchors)
// finds the newest generation of each user row by replaying audit events
// selected on the clear audit_events.action column, which no hash covers
// and which the server never compares with the hashed record (only an
// offline hush audit verify does). The writer relabels the anchor events'
// action column and puts back a user row from a copy taken before the
// account was frozen (frozen_at, state_gen, state_mac: a MAC that was valid
// then). The server starts, sees no anchor, and the frozen account works
// again, with no alert.
func TestRedDbwriterAnchorsHidden(t *testing.T) {
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

	// desk sweeps into the canary and is frozen.
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
	f.tamper(
		`DROP TRIGGER audit_events_no_update`,
		`UPDATE audit_events SET action = 'integrity.stat' WHERE action = 'integrity.state'`,
		`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END`,
	)

	if err := f.serveOrRefuse(); err != nil {
		return // refused start: defended
	}
	r := f.do("desk@test.hush", "GET", "/fhir/R4/Patient?name=Nobody", nil)
	if r.status == 200 {
		t.Errorf("the frozen account works again after its row was put back and the anchors hidden: %d", r.status)
	}
	if !hook.anyIntegrity(5 * time.Second) {
		t.Errorf("no integrity alert for a rolled-back user row with its anchors hidden")
	}
}

// relabelAudit changes the clear action column of audit events (the
// hashed record stays as it was), with the append-only trigger dropped for
// the moment of the change and put back as it was.
func (f *fixture) relabelAudit(from, to string) {
	f.t.Helper()
	f.tamper(
		`DROP TRIGGER audit_events_no_update`,
		`UPDATE audit_events SET action = '`+to+`' WHERE action = '`+from+`'`,
		`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END`,
	)
}

// TestRedDbwriterRecoveryKeySwapRestamped: TestInsiderRecoveryKeySwap's
// attack, once more. checkIntegrity decides whether the one-time upgrade
// stamping already ran with HasAuditAction, a query on the clear
// audit_events.action column. The writer swaps meta.recovery_public_key
// for a key of their own, deletes recovery_public_key_mac, and relabels the
// integrity.upgrade event's action column: the server believes it is the
// first open after the upgrade and stamps the attacker's key as the
// clinic's. Every new record is then granted to it, and the writer opens
// new notes from the file alone.
func TestRedDbwriterRecoveryKeySwapRestamped(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	mine, err := seal.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	f.tamperArgs(`UPDATE meta SET value = ? WHERE key = 'recovery_public_key'`, mine.Public().Bytes())
	f.tamper(`DELETE FROM meta WHERE key = 'recovery_public_key_mac'`)
	f.relabelAudit("integrity.upgrade", "integrity.upgrad")

	if err := f.serveOrRefuse(); err != nil {
		return // refused start: defended
	}
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Swapped", "Sanna", makeHETU(9, 10, 1982, 126), "+358401111114")))
	pid := p["id"].(string)
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "preliminary", "marker-for-the-swapped-recovery-key")))
	alerted := hook.anyIntegrity(5 * time.Second)
	f.shutdown()

	db := openStolen(t, f.data)
	var clinicID string
	if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'clinic_id'`).Scan(&clinicID); err != nil {
		t.Fatal(err)
	}
	var epoch int
	var sealed []byte
	if err := db.QueryRow(`SELECT epoch, sealed FROM grants WHERE patient_id = ? AND principal = ?`, pid, clinic.RecoveryPrincipal).Scan(&epoch, &sealed); err != nil {
		t.Fatal(err)
	}
	s, err := mine.OpenGrant(seal.GrantContext{Clinic: clinicID, Record: pid, Epoch: epoch, Principal: clinic.RecoveryPrincipal}, sealed)
	if err == nil {
		texts := thiefDecryptNotes(t, db, map[string]map[int]*seal.RecordSeed{pid: {epoch: s}})
		for _, text := range texts {
			if strings.Contains(text, "marker-for-the-swapped-recovery-key") {
				t.Errorf("the writer's own recovery key opens a new note: %q", text)
			}
		}
		t.Errorf("a new record was granted to the writer's recovery key")
	}
	if !alerted {
		t.Errorf("no integrity alert for a swapped recovery key")
	}
}

// TestRedDbwriterRoleRestamped: the same hidden upgrade event re-stamps a
// user row whose state MAC was removed. The upgrade checks a row's public
// key only when it has one, so the writer also clears the key: reception
// becomes an admin (role changed, public key and both MACs removed), and
// the server stamps that as the row's true state. The reception token then
// reads the audit log as an admin.
func TestRedDbwriterRoleRestamped(t *testing.T) {
	f := newFixture(t, "desk@test.hush=reception")
	hook := alertsToWebhook(t, f)
	desk := f.ids["desk@test.hush"]
	f.tamper(`UPDATE users SET role = 'admin', public_key = NULL, public_key_mac = NULL, state_mac = NULL WHERE id = '` + desk + `'`)
	f.relabelAudit("integrity.upgrade", "integrity.upgrad")

	if err := f.serveOrRefuse(); err != nil {
		return // refused start: defended
	}
	if r := f.do("desk@test.hush", "GET", "/fhir/R4/AuditEvent?_count=5", nil); r.status == 200 {
		t.Errorf("reception, turned admin in the file and re-stamped, reads the audit log: %d", r.status)
	}
	if !hook.anyIntegrity(5 * time.Second) {
		t.Errorf("no integrity alert for a user row stripped of its MACs")
	}
}

// TestRedDbwriterRecoveryCodeReused: a recovery code works once — the
// recovery_codes row's used_at says so, and nothing authenticates it. The
// writer, who has the password and a recovery code the holder already
// used (seen on a printed sheet, over a shoulder, in a keylogger), clears
// used_at: the spent code passes the second step again.
func TestRedDbwriterRecoveryCodeReused(t *testing.T) {
	f, _, _ := newSigninFixture(t)
	b := f.browser(t, "127.0.0.2")
	_, codes := b.firstSignIn("doc@test.hush", testPassword, f.enrol["doc@test.hush"])
	if len(codes) == 0 {
		t.Fatal("no recovery codes shown")
	}
	b2 := f.browser(t, "127.0.0.3")
	if p := b2.signIn("doc@test.hush", signinNewPassword); p.path != "/signin/mfa" {
		t.Fatalf("sign-in at %s", p.path)
	}
	if p := b2.post("/signin/mfa", url.Values{"code": {codes[0]}}); p.path != "/patients" {
		t.Fatalf("the holder's recovery code: at %s (%d)", p.path, p.status)
	}
	f.shutdown()

	f.tamper(`UPDATE recovery_codes SET used_at = NULL`)
	if err := f.serveOrRefuse(); err != nil {
		return // refused start: defended
	}
	b3 := f.browser(t, "127.0.0.4")
	if p := b3.signIn("doc@test.hush", signinNewPassword); p.path != "/signin/mfa" {
		return // the account's state no longer verifies: refused, defended
	}
	if p := b3.post("/signin/mfa", url.Values{"code": {codes[0]}}); p.path == "/patients" {
		t.Errorf("a spent recovery code, marked unused in the file, passed the second step again")
	}
}

// TestRedDbwriterEpochRollbackRestamped: TestInsiderEpochRollback once
// more. The writer deletes the record's newest epoch, its grants and its
// head, and relabels the integrity.upgrade and integrity.state events'
// action columns: the server re-runs the one-time upgrade, which writes a
// fresh head for every record without one, naming the newest epoch left on
// disk — the one the removed clinician still holds. New notes go to it.
func TestRedDbwriterEpochRollbackRestamped(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician", "doc2@test.hush=clinician")
	alertsToWebhook(t, f)
	pid := epochTwoPatient(t, f, "")

	f.tamper(
		`DELETE FROM grants WHERE patient_id = '`+pid+`' AND epoch = 2`,
		`DELETE FROM record_epochs WHERE patient_id = '`+pid+`' AND epoch = 2`,
		`DELETE FROM record_heads WHERE patient_id = '`+pid+`'`,
	)
	f.relabelAudit("integrity.upgrade", "integrity.upgrad")
	f.relabelAudit("integrity.state", "integrity.stat")
	if err := f.serveOrRefuse(); err != nil {
		return
	}
	r := f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "preliminary", "after the rollback"))
	f.shutdown()
	if r.status == 201 {
		v := f.snapshotRow(`SELECT max(epoch) FROM notes WHERE patient_id = ?`, []any{pid}, 1)
		t.Errorf("a note was written after the epoch rollback, under epoch %v, which the removed doc2 holds", v[0])
	}
}

// TestRedDbwriterForgedCareTeamRequest: care-team requests are plain rows
// (no MAC, no check against the audit log's care-team.request event). The
// writer inserts one in an admin's name asking to add a clinician of their
// choosing to a patient's team; the holder sees an ordinary request from the
// admin and answering it grants the record.
func TestRedDbwriterForgedCareTeamRequest(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician", "mallory@test.hush=clinician")
	f.serve()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Forged", "Frida", makeHETU(11, 12, 1983, 127), "+358401111115")))
	pid := p["id"].(string)
	f.shutdown()

	f.tamperArgs(`INSERT INTO careteam_requests (id, patient_id, clinician_id, requested_by, created_at) VALUES (?,?,?,?,?)`,
		"0123456789abcdef0123456789abcdef", pid, f.ids["mallory@test.hush"], f.ids["admin@test.hush"], time.Now().UnixMilli())

	kek, err := seal.LoadKEKFile(f.kek)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := clinic.Open(context.Background(), f.data, kek)
	if err != nil {
		return // refused to open: defended
	}
	defer cl.Close()
	ctx := signedIn(t, cl, "doc@test.hush")
	reqs, err := cl.CareTeamRequests(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		if r.ID == "0123456789abcdef0123456789abcdef" {
			t.Errorf("a care-team request forged in the file is shown to the holder as the admin's")
		}
	}
	if err := cl.AnswerCareTeamRequest(ctx, "0123456789abcdef0123456789abcdef", true); err == nil {
		t.Errorf("answering a care-team request forged in the file granted the record to the writer's clinician")
	}
}
