package clinic

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// splitToken returns a bearer token's id and secret.
func splitToken(t *testing.T, bearer string) (string, []byte) {
	t.Helper()
	id, secretText, ok := strings.Cut(strings.TrimPrefix(bearer, tokenPrefix), "_")
	secret, err := base64.RawURLEncoding.DecodeString(secretText)
	if !ok || err != nil {
		t.Fatalf("bearer token has no id and secret")
	}
	return id, secret
}

func (e *env) tokenRow(id string) store.TokenRow {
	e.t.Helper()
	var r store.TokenRow
	err := e.c.db.Read(e.ctx, func(tx *store.Tx) error {
		var err error
		r, err = tx.TokenByID(id)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) events(action string) []audit.Event {
	e.t.Helper()
	evs, err := e.c.audit.Search(e.ctx, store.AuditQuery{ActionPrefix: action, Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// TestTokenKeyNeedsKEK: the token and the stored row (a copy of the disk)
// do not open the private key any more: the token-sealed key is wrapped
// under a KEK-derived key bound to the clinic, user and token. A row moved
// to another token does not open either.
func TestTokenKeyNeedsKEK(t *testing.T) {
	e := newEnv(t)
	a := e.user("a@x.fi", hush.RoleClinician)
	tok, err := e.c.CreateToken(e.ctx, "a@x.fi", []byte(pw), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, secret := splitToken(t, tok.Secret)
	row := e.tokenRow(id)
	if !row.KeyWrapped {
		t.Fatal("a new token's key is not marked wrapped")
	}
	// The thief's old steps: the token's secret derives the wrapping key.
	cred := seal.FromToken(secret, id)
	if _, err := seal.OpenPrivateKey(row.SealedKey, cred.Wrap, tokenKeyAD(a.UserID, id)); err == nil {
		t.Fatal("the token and the row open the private key without the KEK")
	}
	if _, err := e.c.Authenticate(e.ctx, tok.Secret); err != nil {
		t.Fatalf("the server (with the KEK) does not open it: %v", err)
	}
	// A database writer moves this sealed key onto another token row of
	// the same user: the binding to the token id refuses it.
	tok2, err := e.c.CreateToken(e.ctx, "a@x.fi", []byte(pw), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`UPDATE tokens SET sealed_key = ? WHERE id = ?`, row.SealedKey, tok2.ID)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Authenticate(e.ctx, tok2.Secret); err == nil {
		t.Fatal("a sealed key moved to another token row opens")
	}
}

// TestLegacyTokenWrappedAtOpen: a token made before the KEK wrap (its key
// sealed only under the token) is wrapped when the clinic opens, keeps
// working, and its old unwrapped bytes are left in no database file.
func TestLegacyTokenWrappedAtOpen(t *testing.T) {
	e := newEnv(t)
	a := e.user("a@x.fi", hush.RoleClinician)
	var idb [16]byte
	secret := make([]byte, 32)
	rand.Read(idb[:])
	rand.Read(secret)
	id := hex.EncodeToString(idb[:])
	cred := seal.FromToken(secret, id)
	legacy := seal.SealPrivateKey(a.Key, cred.Wrap, tokenKeyAD(a.UserID, id))
	err := e.c.writeTx(e.ctx, func(tx *store.Tx) error {
		return tx.InsertToken(store.TokenRow{ID: id, UserID: a.UserID, Verifier: e.c.credMAC.MAC(seal.AD("hush token verifier v1", id, string(cred.Verifier))),
			SealedKey: legacy, CreatedAt: e.c.millis(), ExpiresAt: sql.NullInt64{Int64: e.c.millis() + time.Hour.Milliseconds(), Valid: true}})
	})
	if err != nil {
		t.Fatal(err)
	}
	e.c.Close()
	c, err := Open(e.ctx, e.dir, e.kek)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	row := e.tokenRow(id)
	if !row.KeyWrapped || bytes.Equal(row.SealedKey, legacy) {
		t.Fatal("the legacy row was not wrapped at open")
	}
	if _, err := seal.OpenPrivateKey(row.SealedKey, cred.Wrap, tokenKeyAD(a.UserID, id)); err == nil {
		t.Fatal("the upgraded row opens without the KEK")
	}
	bearer := tokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret)
	if got, err := c.Authenticate(e.ctx, bearer); err != nil || got.UserID != a.UserID {
		t.Fatalf("the upgraded token does not work: %v", err)
	}
	if evs := e.events(audit.ActTokenWrap); len(evs) != 1 || evs[0].Entity != id {
		t.Errorf("wrap events %+v", evs)
	}
	for _, name := range []string{store.FileName, store.FileName + "-wal", store.FileName + "-shm"} {
		b, _ := os.ReadFile(filepath.Join(e.dir, name))
		if bytes.Contains(b, legacy) {
			t.Errorf("%s still holds the unwrapped sealed key", name)
		}
	}
}

// TestExpiredTokenKeyErased: an expired token's sealed key is erased by the
// sweep (and at open), audited by id; its row stays for listing.
func TestExpiredTokenKeyErased(t *testing.T) {
	e := newEnv(t)
	e.user("a@x.fi", hush.RoleClinician)
	tok, err := e.c.CreateToken(e.ctx, "a@x.fi", []byte(pw), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	live, err := e.c.CreateToken(e.ctx, "a@x.fi", []byte(pw), 3*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sealed := e.tokenRow(tok.ID).SealedKey
	if _, err := e.c.Authenticate(e.ctx, tok.Secret); err != nil {
		t.Fatal(err)
	}
	e.c.SweepSessions(e.ctx)
	if len(e.tokenRow(tok.ID).SealedKey) == 0 {
		t.Fatal("the sweep erased a live token's key")
	}
	e.c.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	e.c.SweepSessions(e.ctx)
	if r := e.tokenRow(tok.ID); len(r.SealedKey) != 0 || !r.ExpiresAt.Valid || r.RevokedAt.Valid {
		t.Fatalf("expired token after the sweep: %d key bytes, expires %v, revoked %v", len(r.SealedKey), r.ExpiresAt, r.RevokedAt)
	}
	if len(e.tokenRow(live.ID).SealedKey) == 0 {
		t.Fatal("the sweep erased the unexpired token's key")
	}
	if evs := e.events(audit.ActTokenErase); len(evs) != 1 || evs[0].Entity != tok.ID || evs[0].PatientID != "" {
		t.Errorf("erase events %+v", evs)
	}
	for _, name := range []string{store.FileName, store.FileName + "-wal", store.FileName + "-shm"} {
		b, _ := os.ReadFile(filepath.Join(e.dir, name))
		if bytes.Contains(b, sealed) {
			t.Errorf("%s still holds the expired token's sealed key", name)
		}
	}
	ts, err := e.c.Tokens(e.ctx, "a@x.fi")
	if err != nil || len(ts) != 2 {
		t.Fatalf("tokens listed: %d %v", len(ts), err)
	}
	// A token that expires while the clinic is closed is erased at open.
	e.c.SetClock(time.Now)
	short, err := e.c.CreateToken(e.ctx, "a@x.fi", []byte(pw), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	e.c.Close()
	time.Sleep(5 * time.Millisecond)
	c, err := Open(e.ctx, e.dir, e.kek)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	if len(e.tokenRow(short.ID).SealedKey) != 0 {
		t.Fatal("open did not erase the expired token's key")
	}
}

// TestChangePasswordStartsNewEpochs: replacing a key pair starts a new
// epoch on every record the user held, granted to the whole care team and
// the recovery key. Whoever knew the old key (the admin who chose the
// first password, with the KEK and an earlier copy of the grants) opens the
// old epoch's seed but nothing written after the replacement.
func TestChangePasswordStartsNewEpochs(t *testing.T) {
	e := newEnv(t)
	a := e.user("a@x.fi", hush.RoleClinician)
	b := e.user("b@x.fi", hush.RoleClinician)
	p, err := e.c.CreatePatient(as(a), hush.Patient{Family: "V", BirthDate: "1990-01-01"}, []string{b.UserID})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.c.CreatePatient(as(b), hush.Patient{Family: "K", BirthDate: "1980-01-01"}, nil) // not a's
	if err != nil {
		t.Fatal(err)
	}
	n1, err := e.c.CreateNote(as(a), p.ID, NoteInput{Kind: hush.KindFree, Status: hush.StatusSigned, Text: "before the new password"})
	if err != nil {
		t.Fatal(err)
	}
	// The earlier copy: a's epoch-1 grant, sealed to the first key.
	var early store.GrantRow
	e.c.db.Read(e.ctx, func(tx *store.Tx) error { early, err = tx.Grant(p.ID, 1, userPrincipal(a.UserID)); return err })
	if err != nil {
		t.Fatal(err)
	}
	oldKey := a.Key
	if err := e.c.ChangePassword(as(a), []byte("a brand new passphrase")); err != nil {
		t.Fatal(err)
	}
	epochs := map[string]int{}
	e.c.db.Read(e.ctx, func(tx *store.Tx) error {
		for _, pid := range []string{p.ID, other.ID} {
			epochs[pid], _ = tx.CurrentEpoch(pid)
		}
		return nil
	})
	if epochs[p.ID] != 2 || epochs[other.ID] != 1 {
		t.Fatalf("epochs after the key replacement: %v (want 2 for a's patient, 1 for the other)", epochs)
	}
	for _, pr := range []string{userPrincipal(a.UserID), userPrincipal(b.UserID), RecoveryPrincipal} {
		e.c.db.Read(e.ctx, func(tx *store.Tx) error { _, err = tx.Grant(p.ID, 2, pr); return err })
		if err != nil {
			t.Errorf("no epoch-2 grant to %s: %v", pr, err)
		}
	}
	if evs := e.events(audit.ActRekey); len(evs) != 1 || evs[0].PatientID != p.ID || evs[0].Entity != a.UserID {
		t.Errorf("record.rekey events %+v", evs)
	}
	n2, err := e.c.CreateNote(as(b), p.ID, NoteInput{Kind: hush.KindFree, Status: hush.StatusSigned, Text: "after the new password"})
	if err != nil {
		t.Fatal(err)
	}
	// Everyone on the team reads both, a with the new key.
	for _, who := range []*hush.Actor{a, b} {
		for _, n := range []hush.Note{n1, n2} {
			if got, err := e.c.Note(as(who), n.ID, 0); err != nil || got.Text != n.Text {
				t.Errorf("%s reads %q: %v", who.UserID, n.Text, err)
			}
		}
	}
	// The old key with the earlier copy: opens epoch 1 (what it saw), not
	// the new note.
	seed1, err := oldKey.OpenGrant(seal.GrantContext{Clinic: e.c.id, Record: p.ID, Epoch: 1, Principal: userPrincipal(a.UserID)}, early.Sealed)
	if err != nil {
		t.Fatal(err)
	}
	var row store.NoteRow
	e.c.db.Read(e.ctx, func(tx *store.Tx) error { row, err = tx.Note(n2.ID, 0); return err })
	if err != nil {
		t.Fatal(err)
	}
	k := seed1.ContentKey()
	if _, err := k.Open(row.Body, noteAD(row)); err == nil || row.Epoch == 1 {
		t.Fatalf("the first key's seed opens a note written after the key replacement (epoch %d)", row.Epoch)
	}
	var g2 store.GrantRow
	e.c.db.Read(e.ctx, func(tx *store.Tx) error { g2, err = tx.Grant(p.ID, 2, userPrincipal(a.UserID)); return err })
	if _, err := oldKey.OpenGrant(seal.GrantContext{Clinic: e.c.id, Record: p.ID, Epoch: 2, Principal: userPrincipal(a.UserID)}, g2.Sealed); err == nil {
		t.Fatal("the first key opens the new epoch's grant")
	}
}

// TestSweepCheckpointsAfterOtherProcesses: a token revoked by another
// process whose checkpoint did not complete (here: a plain SQL revocation,
// no checkpoint at all) leaves the files at this process's next sweep.
func TestSweepCheckpointsAfterOtherProcesses(t *testing.T) {
	e := newEnv(t)
	e.user("a@x.fi", hush.RoleClinician)
	tok, err := e.c.CreateToken(e.ctx, "a@x.fi", []byte(pw), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sealed := e.tokenRow(tok.ID).SealedKey
	e.c.SweepSessions(e.ctx) // a first sweep: checkpoints whatever ended before
	if err := e.c.db.Checkpoint(e.ctx); err != nil {
		t.Fatal(err)
	}
	// Another process revokes it (its own checkpoint aside: as when
	// readers held that one up).
	if err := e.c.writeTx(e.ctx, func(tx *store.Tx) error { return tx.RevokeToken(tok.ID, time.Now().UnixMilli()) }); err != nil {
		t.Fatal(err)
	}
	holding := func() bool {
		b, _ := os.ReadFile(filepath.Join(e.dir, store.FileName))
		return bytes.Contains(b, sealed)
	}
	if !holding() {
		t.Fatal("before any checkpoint hush.db should still hold the key (is the scan blind?)")
	}
	e.c.SweepSessions(e.ctx)
	if holding() {
		t.Fatal("the sweep did not checkpoint after another process's revocation")
	}
}
