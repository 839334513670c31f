package cli_test

// Red team, role "dbwriter2": a database writer without the KEK, after the
// state digest (internal/clinic/digest.go). Each test performs an attack and
// asserts the defended outcome, so it FAILS while the hole exists.

import (
	"context"
	"testing"
	"time"
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
