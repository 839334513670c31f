package witness_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/hushepr/hush/internal/audit/witness"
	"github.com/hushepr/hush/internal/audit/witness/witnesstest"
)

const origin = "hush.test/audit/witness-test"

// testLog is a tiny in-memory RFC 6962 log (tlog's stored-hash layout).
type testLog struct {
	hashes []tlog.Hash
	size   int64
}

func (l *testLog) reader() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(l.hashes)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = l.hashes[x]
		}
		return out, nil
	})
}

func (l *testLog) append(t *testing.T, records ...string) {
	t.Helper()
	for _, r := range records {
		hs, err := tlog.StoredHashes(l.size, []byte(r), l.reader())
		if err != nil {
			t.Fatal(err)
		}
		l.hashes = append(l.hashes, hs...)
		l.size++
	}
}

func newTestLog(t *testing.T, prefix string, n int) *testLog {
	l := &testLog{}
	for i := 0; i < n; i++ {
		l.append(t, fmt.Sprintf("%s record %d", prefix, i))
	}
	return l
}

// checkpoint returns the signed checkpoint note for the first n records.
func (l *testLog) checkpoint(t *testing.T, n int64, signer note.Signer) []byte {
	t.Helper()
	h, err := tlog.TreeHash(n, l.reader())
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", origin, n, h)
	msg, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func (l *testLog) proof(t *testing.T, oldSize, newSize int64) tlog.TreeProof {
	t.Helper()
	if oldSize == 0 {
		return nil
	}
	p, err := tlog.ProveTree(newSize, oldSize, l.reader())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newLogKey makes a log signing key whose name is the origin (litewitness
// finds the keys by origin, then note.Open matches signatures by name+hash).
func newLogKey(t *testing.T) (note.Signer, note.Verifier, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v, vkey
}

func add(t *testing.T, w *witness.Witness, oldSize int64, proof tlog.TreeProof, cp []byte) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return w.Add(ctx, oldSize, proof, cp)
}

func mustAdd(t *testing.T, w *witness.Witness, oldSize int64, proof tlog.TreeProof, cp []byte) []byte {
	t.Helper()
	cosig, err := add(t, w, oldSize, proof, cp)
	if err != nil {
		t.Fatalf("Add(old %d): %v", oldSize, err)
	}
	return cosig
}

func wantRefused(t *testing.T, err error, statuses ...int) *witness.RefusedError {
	t.Helper()
	var re *witness.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v (%T), want *witness.RefusedError with status %v", err, err, statuses)
	}
	for _, s := range statuses {
		if re.Status == s {
			return re
		}
	}
	t.Fatalf("refused with %d %q, want status %v", re.Status, re.Body, statuses)
	return nil
}

func wantConflict(t *testing.T, err error, size int64) {
	t.Helper()
	var ce *witness.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v (%T), want *witness.ConflictError", err, err)
	}
	if ce.Size != size {
		t.Fatalf("ConflictError.Size = %d, want %d", ce.Size, size)
	}
}

func TestWitnessCosignsGrowingLog(t *testing.T) {
	signer, logVerifier, logVKey := newLogKey(t)
	w := witnesstest.Start(t, origin, logVKey)
	l := newTestLog(t, "honest", 7)

	// The verifier made from the printed vkey is the one Start returned.
	vkey := w.Verifier.(fmt.Stringer).String()
	wv, err := witness.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(vkey, witnesstest.Name+"+") {
		t.Fatalf("witness vkey %q", vkey)
	}

	old := int64(0)
	for _, size := range []int64{1, 3, 7} {
		cp := l.checkpoint(t, size, signer)
		before := time.Now().Add(-2 * time.Second)
		cosig := mustAdd(t, w, old, l.proof(t, old, size), cp)
		if !strings.HasPrefix(string(cosig), "— "+witnesstest.Name+" ") || !strings.HasSuffix(string(cosig), "\n") {
			t.Fatalf("cosignature lines %q", cosig)
		}

		// The checkpoint with the cosignature appended opens with both the
		// log key and the witness key.
		full := append(append([]byte{}, cp...), cosig...)
		n, err := note.Open(full, note.VerifierList(logVerifier, wv))
		if err != nil {
			t.Fatalf("size %d: note.Open: %v", size, err)
		}
		if len(n.Sigs) != 2 || n.Sigs[0].Name != origin || n.Sigs[1].Name != witnesstest.Name {
			t.Fatalf("size %d: verified signatures %+v", size, n.Sigs)
		}
		// And with the witness key alone (the log signature is then
		// unverified, which note.Open tolerates).
		n, err = note.Open(full, note.VerifierList(wv))
		if err != nil || len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 1 {
			t.Fatalf("size %d: note.Open with witness key only: %v %+v", size, err, n)
		}
		ts, err := witness.CosignatureTime(n.Sigs[0])
		if err != nil || ts.Before(before) || ts.After(time.Now().Add(2*time.Second)) {
			t.Fatalf("size %d: cosignature time %v, %v", size, ts, err)
		}
		// The cosignature is over this checkpoint only.
		other := l.checkpoint(t, size-1, signer)
		if _, err := note.Open(append(append([]byte{}, other...), cosig...), note.VerifierList(wv)); err == nil {
			t.Fatalf("size %d: cosignature verified on another checkpoint", size)
		}
		old = size
	}

	// Re-submitting the current size with an empty proof is accepted.
	mustAdd(t, w, 7, nil, l.checkpoint(t, 7, signer))

	// Extension lines after the root hash are allowed and are covered by
	// the cosignature.
	h, err := tlog.TreeHash(7, l.reader())
	if err != nil {
		t.Fatal(err)
	}
	ext, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n7\n%s\nhush-ext 1\n", origin, h)}, signer)
	if err != nil {
		t.Fatal(err)
	}
	cosig := mustAdd(t, w, 7, nil, ext)
	if _, err := note.Open(append(append([]byte{}, ext...), cosig...), note.VerifierList(logVerifier, wv)); err != nil {
		t.Fatalf("checkpoint with extension line: %v", err)
	}
	stripped := l.checkpoint(t, 7, signer)
	if _, err := note.Open(append(stripped, cosig...), note.VerifierList(wv)); err == nil {
		t.Fatal("cosignature over an extension line verified without it")
	}
}

func TestWitnessRefusesRebuiltLog(t *testing.T) {
	signer, _, logVKey := newLogKey(t)
	w := witnesstest.Start(t, origin, logVKey)
	honest := newTestLog(t, "honest", 9)
	mustAdd(t, w, 0, nil, honest.checkpoint(t, 3, signer))
	mustAdd(t, w, 3, honest.proof(t, 3, 7), honest.checkpoint(t, 7, signer))

	// The log is rebuilt from different records (e.g. history rewritten),
	// still signed with the log's real key.
	rebuilt := newTestLog(t, "rewritten", 9)

	// Same size, different root: spec says 409, litewitness v0.6.1 answers
	// 422 (it runs the empty consistency proof against the stored hash).
	_, err := add(t, w, 7, nil, rebuilt.checkpoint(t, 7, signer))
	if err == nil {
		t.Fatal("witness cosigned a rebuilt log of the same size")
	}
	t.Logf("rebuilt log, same size: %v", err)
	var ce *witness.ConflictError
	if !errors.As(err, &ce) {
		wantRefused(t, err, http.StatusUnprocessableEntity)
	}

	// Larger size with the rebuilt log's own (internally valid) proof.
	_, err = add(t, w, 7, rebuilt.proof(t, 7, 9), rebuilt.checkpoint(t, 9, signer))
	wantRefused(t, err, http.StatusUnprocessableEntity)

	// Honest proof hashes with the rebuilt root do not help either.
	_, err = add(t, w, 7, honest.proof(t, 7, 9), rebuilt.checkpoint(t, 9, signer))
	wantRefused(t, err, http.StatusUnprocessableEntity)

	// A garbled proof for the honest log is refused too.
	bad := honest.proof(t, 7, 9)
	bad[0][0] ^= 1
	_, err = add(t, w, 7, bad, honest.checkpoint(t, 9, signer))
	wantRefused(t, err, http.StatusUnprocessableEntity)

	// The witness still follows the honest log.
	mustAdd(t, w, 7, honest.proof(t, 7, 9), honest.checkpoint(t, 9, signer))
}

func TestWitnessConflictOnStaleOldSize(t *testing.T) {
	signer, _, logVKey := newLogKey(t)
	w := witnesstest.Start(t, origin, logVKey)
	l := newTestLog(t, "honest", 7)
	mustAdd(t, w, 0, nil, l.checkpoint(t, 1, signer))
	mustAdd(t, w, 1, l.proof(t, 1, 3), l.checkpoint(t, 3, signer))

	// The log believes the witness is still at 1.
	_, err := add(t, w, 1, l.proof(t, 1, 7), l.checkpoint(t, 7, signer))
	t.Logf("stale old size: %v", err)
	wantConflict(t, err, 3)

	// "old 0" is how a log that lost track learns the witness's size.
	_, err = add(t, w, 0, nil, l.checkpoint(t, 7, signer))
	wantConflict(t, err, 3)

	// Old size ahead of the witness.
	_, err = add(t, w, 5, l.proof(t, 5, 7), l.checkpoint(t, 7, signer))
	wantConflict(t, err, 3)

	// Retrying from the size the witness reported works.
	mustAdd(t, w, 3, l.proof(t, 3, 7), l.checkpoint(t, 7, signer))
}

func TestWitnessRefusesOtherKey(t *testing.T) {
	signer, _, logVKey := newLogKey(t)
	w := witnesstest.Start(t, origin, logVKey)
	l := newTestLog(t, "honest", 7)
	mustAdd(t, w, 0, nil, l.checkpoint(t, 3, signer))

	// Another key with the same name (the origin): the witness ignores its
	// signature, so no trusted signature verifies.
	other, _, _ := newLogKey(t)
	_, err := add(t, w, 3, l.proof(t, 3, 7), l.checkpoint(t, 7, other))
	t.Logf("other key: %v", err)
	wantRefused(t, err, http.StatusForbidden)

	// A checkpoint for an origin the witness does not know: spec says 404,
	// litewitness v0.6.1 answers 403 "unknown log".
	skey, _, err := note.GenerateKey(rand.Reader, "hush.test/unknown-log")
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := tlog.TreeHash(7, l.reader())
	unknown, err := note.Sign(&note.Note{Text: fmt.Sprintf("hush.test/unknown-log\n7\n%s\n", h)}, s)
	if err != nil {
		t.Fatal(err)
	}
	_, err = add(t, w, 0, nil, unknown)
	t.Logf("unknown origin: %v", err)
	wantRefused(t, err, http.StatusForbidden, http.StatusNotFound)

	// The witness is still at 3 for the real log.
	mustAdd(t, w, 3, l.proof(t, 3, 7), l.checkpoint(t, 7, signer))
}

func TestAddRejectsBadArguments(t *testing.T) {
	signer, _, _ := newLogKey(t)
	l := newTestLog(t, "honest", 7)
	v, err := witness.NewCosignatureVerifier(katVKey)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing listens here: every case must fail before sending.
	w := &witness.Witness{URL: "http://127.0.0.1:1", Verifier: v}
	cp := l.checkpoint(t, 7, signer)
	for name, c := range map[string]struct {
		old   int64
		proof tlog.TreeProof
		cp    []byte
	}{
		"old > size":         {8, nil, cp},
		"negative old":       {-1, nil, cp},
		"proof with old 0":   {0, l.proof(t, 3, 7), cp},
		"too long proof":     {3, make(tlog.TreeProof, 64), cp},
		"not a note":         {0, nil, []byte("hush.test/audit\n7\n")},
		"not a checkpoint":   {0, nil, []byte("hello\n\n— x AAAA\n")},
		"non-canonical size": {0, nil, []byte(strings.Replace(string(cp), "\n7\n", "\n07\n", 1))},
	} {
		_, err := add(t, w, c.old, c.proof, c.cp)
		if err == nil || strings.Contains(err.Error(), "connect") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
