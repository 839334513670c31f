package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hushepr/hush/internal/hush"
)

func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestDurabilitySettings asserts the pragmas that make an acknowledged write
// durable, on the writer connection and on reader connections.
func TestDurabilitySettings(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	want := map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "temp_store": "2", "secure_delete": "1"}
	for name, w := range want {
		got, err := db.Pragma(ctx, name)
		if err != nil || got != w {
			t.Errorf("writer PRAGMA %s = %q (%v), want %q", name, got, err, w)
		}
		var r string
		if err := db.r.QueryRowContext(ctx, "PRAGMA "+name).Scan(&r); err != nil || r != w {
			t.Errorf("reader PRAGMA %s = %q (%v), want %q", name, r, err, w)
		}
	}
}

func seedRows(t *testing.T, db *DB) {
	t.Helper()
	err := db.ReadWrite(context.Background(), func(tx *Tx) error {
		if err := tx.InsertUser(UserRow{ID: "u1", Role: "clinician", Active: true, EmailIndex: []byte{1}, Profile: []byte{2}, CreatedAt: 1}); err != nil {
			return err
		}
		if err := tx.InsertPatient(PatientRow{ID: "p1", Directory: []byte{3}, CreatedAt: 1, CreatedBy: "u1"}); err != nil {
			return err
		}
		if err := tx.InsertEpoch("p1", 1, []byte{4}, []byte{5}, 1); err != nil {
			return err
		}
		return tx.InsertNote(NoteRow{ID: "n1", Version: 1, PatientID: "p1", Epoch: 1, AuthorID: "u1", Kind: "SOAP", Status: "final", CreatedAt: 1, Body: []byte{5}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNotesAreAppendOnly(t *testing.T) {
	db := openTest(t)
	seedRows(t, db)
	ctx := context.Background()
	for _, q := range []string{`UPDATE notes SET body = x'00'`, `DELETE FROM notes`} {
		err := db.ReadWrite(ctx, func(tx *Tx) error { return tx.exec(q) })
		if hush.ErrorCode(err) != hush.ECONFLICT {
			t.Errorf("%s: %v, want conflict", q, err)
		}
	}
	err := db.ReadWrite(ctx, func(tx *Tx) error {
		return tx.InsertNote(NoteRow{ID: "n1", Version: 1, PatientID: "p1", Epoch: 1, AuthorID: "u1", Kind: "SOAP", Status: "final", CreatedAt: 2, Body: []byte{6}})
	})
	if hush.ErrorCode(err) != hush.ECONFLICT {
		t.Errorf("duplicate version: %v, want conflict", err)
	}
}

// TestFailedWriteLeavesStateIntact: an error inside a transaction rolls
// back everything it did.
func TestFailedWriteLeavesStateIntact(t *testing.T) {
	db := openTest(t)
	seedRows(t, db)
	ctx := context.Background()
	err := db.ReadWrite(ctx, func(tx *Tx) error {
		if err := tx.InsertNote(NoteRow{ID: "n2", Version: 1, PatientID: "p1", Epoch: 1, AuthorID: "u1", Kind: "SOAP", Status: "final", CreatedAt: 2, Body: []byte{6}}); err != nil {
			return err
		}
		// a foreign-key violation: epoch 9 does not exist
		return tx.InsertNote(NoteRow{ID: "n3", Version: 1, PatientID: "p1", Epoch: 9, AuthorID: "u1", Kind: "SOAP", Status: "final", CreatedAt: 2, Body: []byte{6}})
	})
	if err == nil {
		t.Fatal("foreign key not enforced")
	}
	db.Read(ctx, func(tx *Tx) error {
		ns, err := tx.AllNotes()
		if err != nil || len(ns) != 1 {
			t.Errorf("after a failed write: %d notes, %v; want 1", len(ns), err)
		}
		return nil
	})
	if _, err := func() (NoteRow, error) {
		var n NoteRow
		err := db.Read(ctx, func(tx *Tx) error { var err error; n, err = tx.Note("nope", 0); return err })
		return n, err
	}(); hush.ErrorCode(err) != hush.ENOTFOUND {
		t.Errorf("missing note: %v, want not found", err)
	}
}

func TestMigrationsAreIdempotent(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		db, err := Open(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
}

// TestTokenKeyErasureReachesTheFiles: after a token's sealed key is erased
// (revoked, or expired and swept) and the log is checkpointed, no byte of it
// is left in hush.db, hush.db-wal or hush.db-shm. Without the checkpoint the
// old page image is still in the log.
func TestTokenKeyErasureReachesTheFiles(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seedRows(t, db)
	sealed := func() []byte {
		b := make([]byte, 96)
		rand.Read(b)
		return b
	}
	revoked, expired, live := sealed(), sealed(), sealed()
	err = db.ReadWrite(ctx, func(tx *Tx) error {
		for _, r := range []TokenRow{
			{ID: "t-revoked", SealedKey: revoked},
			{ID: "t-expired", SealedKey: expired, ExpiresAt: sql.NullInt64{Int64: 1000, Valid: true}},
			{ID: "t-live", SealedKey: live, ExpiresAt: sql.NullInt64{Int64: 5000, Valid: true}},
		} {
			r.UserID, r.Verifier, r.KeyWrapped, r.CreatedAt = "u1", []byte{1}, true, 1
			if err := tx.InsertToken(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Checkpoint(ctx); err != nil { // the keys are in hush.db now
		t.Fatal(err)
	}
	if err := db.ReadWrite(ctx, func(tx *Tx) error { return tx.RevokeToken("t-revoked", 2000) }); err != nil {
		t.Fatal(err)
	}
	var erased []string
	if err := db.ReadWrite(ctx, func(tx *Tx) error {
		erased, err = tx.EraseTokenKeys(2000)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(erased, []string{"t-expired"}) { // the revoked one was erased at revocation
		t.Errorf("erased %v, want [t-expired]", erased)
	}
	if hits := filesHolding(t, dir, revoked, expired); len(hits) == 0 {
		t.Error("before the checkpoint hush.db should still hold the old page (is the scan blind?)")
	}
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if hits := filesHolding(t, dir, revoked, expired); len(hits) > 0 {
		t.Errorf("erased token keys still on disk: %v", hits)
	}
	if hits := filesHolding(t, dir, live); len(hits) == 0 {
		t.Error("the live token's key is gone too (the scan finds nothing?)")
	}
	err = db.Read(ctx, func(tx *Tx) error {
		for id, want := range map[string]int{"t-revoked": 0, "t-expired": 0, "t-live": len(live)} {
			r, err := tx.TokenByID(id)
			if err != nil {
				return err
			}
			if len(r.SealedKey) != want || !r.ExpiresAt.Valid && id != "t-revoked" {
				t.Errorf("%s: sealed key %d bytes, want %d; metadata %+v", id, len(r.SealedKey), want, r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// filesHolding names the database files in dir that contain one of secrets.
func filesHolding(t *testing.T, dir string, secrets ...[]byte) []string {
	t.Helper()
	var hits []string
	for _, name := range []string{FileName, FileName + "-wal", FileName + "-shm"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for i, s := range secrets {
			if bytes.Contains(b, s) {
				hits = append(hits, fmt.Sprintf("%s holds secret %d", name, i))
			}
		}
	}
	return hits
}
