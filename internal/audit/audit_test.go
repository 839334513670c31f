package audit_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	_ "modernc.org/sqlite"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/audit/witness/witnesstest"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

const origin = "hush.local/clinic/test"

type testLog struct {
	t          testing.TB
	dir        string
	db         *store.DB
	log        *audit.Log
	skey, vkey string
}

func newTestLog(t testing.TB, skey, vkey string) *testLog {
	t.Helper()
	if skey == "" {
		var err error
		skey, vkey, err = note.GenerateKey(rand.Reader, origin)
		if err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	tl := &testLog{t: t, dir: dir, skey: skey, vkey: vkey}
	tl.open()
	return tl
}

func (tl *testLog) open() {
	tl.t.Helper()
	db, err := store.Open(context.Background(), tl.dir)
	if err != nil {
		tl.t.Fatal(err)
	}
	signer, _ := note.NewSigner(tl.skey)
	verifier, _ := note.NewVerifier(tl.vkey)
	tl.db = db
	tl.log = audit.New(db, audit.Options{Origin: origin, Signer: signer, Verifier: verifier, Private: seal.NewKey()})
}

func (tl *testLog) close() {
	tl.log.Close()
	tl.db.Close()
}

func event(i int) audit.Event {
	return audit.Event{Time: time.UnixMilli(1_700_000_000_000 + int64(i)), ActorID: fmt.Sprintf("user%d", i%3), ActorRole: "clinician",
		PatientID: fmt.Sprintf("patient%d", i%5), Action: audit.ActNoteRead, Purpose: audit.PurposeTreatment, Outcome: audit.OutcomeSuccess,
		RequestID: fmt.Sprintf("req%d", i), Private: audit.Private{ClientAddr: "192.0.2.7"}}
}

func (tl *testLog) appendN(from, n int) {
	tl.t.Helper()
	evs := make([]audit.Event, n)
	for i := range evs {
		evs[i] = event(from + i)
	}
	if err := tl.log.Append(context.Background(), evs...); err != nil {
		tl.t.Fatal(err)
	}
}

func (tl *testLog) verify(auditor []byte) (audit.VerifyResult, error) {
	return audit.Verify(context.Background(), tl.db, tl.vkey, auditor)
}

// raw opens the database file directly, as an attacker with the disk would,
// and drops the append-only triggers.
func (tl *testLog) raw(stmts ...string) {
	tl.t.Helper()
	tl.close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(tl.dir, store.FileName))
	if err != nil {
		tl.t.Fatal(err)
	}
	defer db.Close()
	for _, trg := range []string{"audit_events_no_update", "audit_events_no_delete", "audit_hashes_no_update", "audit_hashes_no_delete", "audit_checkpoints_no_delete"} {
		if _, err := db.Exec("DROP TRIGGER IF EXISTS " + trg); err != nil {
			tl.t.Fatal(err)
		}
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			tl.t.Fatalf("%s: %v", s, err)
		}
	}
	tl.open()
}

func TestAppendSignVerifyProve(t *testing.T) {
	tl := newTestLog(t, "", "")
	defer tl.close()
	ctx := context.Background()
	tl.appendN(0, 10)
	ck1, err := tl.log.Sign(ctx)
	if err != nil || ck1.Size != 10 {
		t.Fatalf("sign: %v %d", err, ck1.Size)
	}
	tl.appendN(10, 7)
	if _, err := tl.log.Sign(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := tl.verify(ck1.Note)
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != 17 || res.Checkpoints != 2 || res.Signed != 17 {
		t.Errorf("result %+v", res)
	}
	for _, i := range []int64{0, 9, 16} {
		p, err := tl.log.Prove(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(p.Hashes, p.Checkpoint.Size, p.Checkpoint.Root, i, tlog.RecordHash(p.Record)); err != nil {
			t.Errorf("proof of %d: %v", i, err)
		}
	}
	if _, err := tl.log.Prove(ctx, 17); err == nil {
		t.Error("proved an event beyond the checkpoint")
	}
	// The private part is sealed: the client address is not in the record.
	evs, err := tl.log.Search(ctx, store.AuditQuery{PatientID: "patient1", Limit: 100})
	if err != nil || len(evs) == 0 || evs[0].Private.ClientAddr != "192.0.2.7" {
		t.Fatalf("search: %v %+v", err, evs)
	}
	tl.db.Read(ctx, func(tx *store.Tx) error {
		r, _ := tx.AuditEvent(0)
		if strings.Contains(string(r.Record), "192.0.2.7") {
			t.Error("the client address is in the clear in the hashed record")
		}
		return nil
	})
}

// TestTamperDetection: each way of changing the stored log is caught and
// the first bad index named.
func TestTamperDetection(t *testing.T) {
	const n = 20
	tests := []struct {
		name   string
		stmts  []string
		want   int64
		reason string
	}{
		{"edit one event's bytes", []string{
			`UPDATE audit_events SET record = CAST(replace(CAST(record AS TEXT), '"actor":"user1"', '"actor":"user2"') AS BLOB), actor_id = 'user2' WHERE idx = 7`,
		}, 7, "differ"},
		{"edit only the searchable column", []string{`UPDATE audit_events SET actor_id = 'someone' WHERE idx = 4`}, 4, "disagree"},
		{"delete one", []string{`DELETE FROM audit_events WHERE idx = 7`}, 7, "missing"},
		{"insert one", []string{
			`UPDATE audit_events SET idx = idx + 1000 WHERE idx >= 7`,
			`UPDATE audit_events SET idx = idx - 999 WHERE idx >= 1000`,
			`INSERT INTO audit_events (idx, time, actor_id, patient_id, action, record) SELECT 7, time, actor_id, patient_id, action, record FROM audit_events WHERE idx = 3`,
		}, 7, "differ"},
		{"swap two", []string{
			`UPDATE audit_events SET idx = 1000 WHERE idx = 7`,
			`UPDATE audit_events SET idx = 7 WHERE idx = 12`,
			`UPDATE audit_events SET idx = 12 WHERE idx = 1000`,
		}, 7, "differ"},
		{"truncate the tail", []string{`DELETE FROM audit_events WHERE idx >= 15`}, 15, "cut short"},
		{"truncate the tail and its hashes", []string{
			`DELETE FROM audit_events WHERE idx >= 15`,
			fmt.Sprintf(`DELETE FROM audit_hashes WHERE id >= %d`, tlog.StoredHashCount(15)),
		}, 15, "tail was cut"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := newTestLog(t, "", "")
			tl.appendN(0, n)
			if _, err := tl.log.Sign(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := tl.verify(nil); err != nil {
				t.Fatalf("untouched log: %v", err)
			}
			tl.raw(tt.stmts...)
			defer tl.close()
			_, err := tl.verify(nil)
			var ve *audit.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("tampering not detected: %v", err)
			}
			if ve.Index != tt.want || !strings.Contains(ve.Reason, tt.reason) {
				t.Fatalf("got index %d (%s), want %d (%s)", ve.Index, ve.Reason, tt.want, tt.reason)
			}
		})
	}
}

// TestRebuiltLogAgainstAuditorCheckpoint: someone holding the signing key
// rebuilds the whole log without event 7, with a fresh valid tree and fresh
// checkpoints. On its own it verifies; against the checkpoint an auditor
// kept, it does not.
func TestRebuiltLogAgainstAuditorCheckpoint(t *testing.T) {
	orig := newTestLog(t, "", "")
	orig.appendN(0, 20)
	ck, err := orig.log.Sign(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	orig.close()
	auditorCopy := ck.Note

	forged := newTestLog(t, orig.skey, orig.vkey)
	defer forged.close()
	forged.appendN(0, 7)
	forged.appendN(8, 15) // events 8..22: the log is longer, not shorter
	if _, err := forged.log.Sign(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := forged.verify(nil); err != nil {
		t.Fatalf("the forged log is internally valid, as expected from a key holder: %v", err)
	}
	_, err = forged.verify(auditorCopy)
	var ve *audit.VerifyError
	if !errors.As(err, &ve) || !strings.Contains(ve.Reason, "auditor's checkpoint") {
		t.Fatalf("rebuilt log not caught by the auditor's checkpoint: %v", err)
	}
	// A checkpoint signed by another key is refused too.
	other := newTestLog(t, "", "")
	defer other.close()
	other.appendN(0, 3)
	ock, _ := other.log.Sign(context.Background())
	if _, err := forged.verify(ock.Note); err == nil {
		t.Fatal("a checkpoint from another log's key was accepted")
	}
}

// TestGroupCommitConcurrent: many concurrent appends get distinct indexes
// and the log verifies.
func TestGroupCommitConcurrent(t *testing.T) {
	tl := newTestLog(t, "", "")
	defer tl.close()
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if err := tl.log.Append(context.Background(), event(g*100+i)); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	res, err := tl.verify(nil)
	if err != nil || res.Size != 640 {
		t.Fatalf("verify: %+v %v", res, err)
	}
}

// TestAppendFailsClosed: when the database cannot grow (a real SQLITE_FULL
// from max_page_count), Append fails and nothing half-written remains.
func TestAppendFailsClosed(t *testing.T) {
	tl := newTestLog(t, "", "")
	defer tl.close()
	tl.appendN(0, 5)
	pages, err := tl.db.PageCount()
	if err != nil {
		t.Fatal(err)
	}
	if err := tl.db.SetMaxPages(pages); err != nil {
		t.Fatal(err)
	}
	var failed error
	for i := 0; i < 200 && failed == nil; i++ {
		failed = tl.log.Append(context.Background(), event(5+i))
	}
	if failed == nil {
		t.Fatal("the log kept growing past max_page_count")
	}
	tl.db.SetMaxPages(0)
	if _, err := tl.verify(nil); err != nil {
		t.Fatalf("after a failed append the log does not verify: %v", err)
	}
	if err := tl.log.Append(context.Background(), event(999)); err != nil {
		t.Fatalf("append after space returned: %v", err)
	}
}

// TestWitness: a real litewitness cosigns checkpoints as the log grows, and
// refuses the checkpoint of a rebuilt log that is not consistent with what
// it saw; the log raises an alert.
func TestWitness(t *testing.T) {
	ctx := context.Background()
	tl := newTestLog(t, "", "")
	defer tl.close()
	w := witnesstest.Start(t, origin, tl.vkey)
	wvkey := w.Verifier.(fmt.Stringer).String()
	if _, err := tl.log.AddWitness(ctx, w.URL, wvkey); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{3, 4, 9} {
		tl.appendN(0, n)
		if _, err := tl.log.Publish(ctx); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	res, err := tl.verify(nil)
	if err != nil || res.Cosignatures != 3 || res.Size != 16 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	ck, err := tl.log.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(ck.Note, note.VerifierList(w.Verifier)); err != nil {
		t.Fatalf("latest checkpoint does not carry the witness's cosignature: %v", err)
	}

	// Someone holding the signing key rebuilds the log (dropping event 5)
	// and shows it to the same witness.
	forged := newTestLog(t, tl.skey, tl.vkey)
	defer forged.close()
	var alerts []string
	forged.log.OnAlert = func(kind, detail string) { alerts = append(alerts, kind) }
	if _, err := forged.log.AddWitness(ctx, w.URL, wvkey); err != nil {
		t.Fatal(err)
	}
	forged.appendN(0, 5)
	forged.appendN(6, 15)
	if _, err := forged.log.Publish(ctx); err == nil {
		t.Fatal("the witness cosigned a rebuilt log")
	}
	if len(alerts) != 1 || alerts[0] != "witness.refused" {
		t.Fatalf("alerts %v", alerts)
	}
	stored, _ := forged.log.Alerts(ctx)
	if len(stored) != 1 {
		t.Fatalf("stored alerts %v", stored)
	}
	// The honest log goes on being cosigned.
	tl.appendN(100, 2)
	if _, err := tl.log.Publish(ctx); err != nil {
		t.Fatalf("honest log after the forgery: %v", err)
	}
}

// FuzzVerifyAuditorCheckpoint: an auditor's checkpoint file is outside
// input; whatever it holds, Verify answers without panicking, and accepts
// only a checkpoint this log signed.
func FuzzVerifyAuditorCheckpoint(f *testing.F) {
	tl := newTestLog(f, "", "")
	defer tl.close()
	tl.appendN(0, 5)
	ck, err := tl.log.Sign(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ck.Note)
	f.Add([]byte("hush.local/clinic/test\n5\nAAAA\n\n— x y\n"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := tl.verify(data)
		if err == nil && string(data) != string(ck.Note) {
			// Only the genuine checkpoint (possibly with extra unknown
			// signature lines) may pass.
			if !strings.HasPrefix(string(data), string(ck.Note[:strings.Index(string(ck.Note), "\n\n")+2])) {
				t.Fatalf("accepted a checkpoint the log did not sign: %q", data)
			}
		}
	})
}

// TestVerifyAsksTheWitnesses: cutting the tail together with the later
// checkpoints, cosignatures and hashes leaves a log that verifies on its
// own, even against the auditor's older checkpoint; asking the real
// litewitness that cosigned the longer log, or giving its cosigned
// checkpoint as a file, makes verify fail naming the cosigned size.
func TestVerifyAsksTheWitnesses(t *testing.T) {
	ctx := context.Background()
	tl := newTestLog(t, "", "")
	defer tl.close()
	w := witnesstest.Start(t, origin, tl.vkey)
	wvkey := w.Verifier.(fmt.Stringer).String()
	if _, err := tl.log.AddWitness(ctx, w.URL, wvkey); err != nil {
		t.Fatal(err)
	}
	tl.appendN(0, 10)
	auditorCk, err := tl.log.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A checkpoint the witness has not seen yet: it answers 10, which is
	// confirmed by its cosignature on the stored checkpoint of size 10.
	tl.appendN(10, 3)
	if _, err := tl.log.Sign(ctx); err != nil {
		t.Fatal(err)
	}
	got, errs := audit.AskWitnesses(ctx, tl.db, nil, nil, wvkey)
	if len(errs) > 0 || len(got) != 1 || got[0].Size != 10 {
		t.Fatalf("ask the witness at 10: %+v %v", got, errs)
	}
	tl.appendN(13, 4)
	if _, err := tl.log.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	latest, err := tl.log.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}

	tl.raw(`DELETE FROM audit_events WHERE idx >= 10`,
		`DELETE FROM audit_checkpoints WHERE size > 10`,
		`DELETE FROM audit_cosignatures WHERE size > 10`,
		fmt.Sprintf(`DELETE FROM audit_hashes WHERE id >= %d`, tlog.StoredHashCount(10)))
	if res, err := tl.verify(auditorCk.Note); err != nil || res.Size != 10 {
		t.Fatalf("the cut log verifies on its own (the hole this closes): %+v %v", res, err)
	}
	got, errs = audit.AskWitnesses(ctx, tl.db, nil, nil)
	if len(errs) > 0 || len(got) != 1 || got[0].Size != 17 {
		t.Fatalf("ask the witness after the cut: %+v %v", got, errs)
	}
	// A witness the auditor pinned must be configured (a database writer
	// who replaced or removed it does not silence it).
	if _, errs := audit.AskWitnesses(ctx, tl.db, nil, nil, wvkey, "other.witness+01234567+BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); len(errs) != 1 || !strings.Contains(errs[0].Error(), "not configured") {
		t.Fatalf("a pinned witness removed from the database: %v", errs)
	}
	_, err = audit.VerifyWith(ctx, tl.db, tl.vkey, audit.VerifyOptions{Auditor: auditorCk.Note, Witnessed: got})
	if err == nil || !strings.Contains(err.Error(), "cosigned 17 events") {
		t.Fatalf("verify with the witness: %v", err)
	}
	// The cosigned checkpoint kept as a file says the same.
	kept, n, err := audit.ParseWitnessed("kept.txt", latest.Note, tl.vkey, []string{wvkey})
	if err != nil || n != 1 || kept.Size != 17 {
		t.Fatalf("parse the kept checkpoint: %+v %d %v", kept, n, err)
	}
	_, err = audit.VerifyWith(ctx, tl.db, tl.vkey, audit.VerifyOptions{Witnessed: []audit.Witnessed{kept}})
	if err == nil || !strings.Contains(err.Error(), "cosigned 17 events") {
		t.Fatalf("verify with the kept checkpoint: %v", err)
	}
	// A checkpoint the log did not sign is refused, not trusted.
	if _, _, err := audit.ParseWitnessed("forged.txt", []byte("hush.local/clinic/test\n99\nAAAA\n\n— x y\n"), tl.vkey, nil); err == nil {
		t.Fatal("an unsigned checkpoint was accepted")
	}
}
