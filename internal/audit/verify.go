package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/hushepr/hush/internal/audit/witness"
	"github.com/hushepr/hush/internal/store"
)

// VerifyResult describes a log that verified.
type VerifyResult struct {
	Size         int64     // events
	Root         tlog.Hash // tree hash at Size
	Checkpoints  int       // signed checkpoints checked
	Cosignatures int       // witness cosignatures checked
	Signed       int64     // size of the newest checkpoint
}

// VerifyError says where a log first goes wrong. Index is the first bad
// event index, or -1 when the fault cannot be placed on one event (a
// signature, a checkpoint that covers a rewritten range).
type VerifyError struct {
	Index  int64
	Reason string
}

func (e *VerifyError) Error() string {
	if e.Index < 0 {
		return "audit log: " + e.Reason
	}
	return fmt.Sprintf("audit log: first bad index %d: %s", e.Index, e.Reason)
}

func bad(i int64, format string, args ...any) error {
	return &VerifyError{Index: i, Reason: fmt.Sprintf(format, args...)}
}

var errStopped = errors.New("stopped")

// recordColumns is the part of a record that verify compares with the
// searchable columns.
type recordColumns struct {
	V       int    `json:"v"`
	Time    int64  `json:"time"`
	Actor   string `json:"actor"`
	Patient string `json:"patient,omitempty"`
	Action  string `json:"action"`
}

// memHashes is a HashReader over hashes computed in memory.
type memHashes []tlog.Hash

func (m *memHashes) ReadHashes(ids []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ids))
	for i, id := range ids {
		if id >= int64(len(*m)) {
			return nil, errors.New("hash not yet computed")
		}
		out[i] = (*m)[id]
	}
	return out, nil
}

// Verify recomputes the Merkle tree from the stored events and checks:
// that indexes run 0, 1, 2, … without gaps; that each event's searchable
// columns agree with its hashed record; that the stored tree hashes are the
// recomputed ones; that every stored checkpoint is signed by vkey and names
// the recomputed root at its size; that every cosignature verifies with its
// witness's key; and, when auditor is not nil, that the log is consistent
// with that checkpoint (kept by an auditor off the server). It needs only
// the database and the log's public key — no KEK.
func Verify(ctx context.Context, db *store.DB, vkey string, auditor []byte) (VerifyResult, error) {
	return VerifyWith(ctx, db, vkey, VerifyOptions{Auditor: auditor})
}

// VerifyOptions are the evidence kept off the server that Verify checks
// the log against.
type VerifyOptions struct {
	// Auditor is a checkpoint an auditor kept (hush audit checkpoint).
	Auditor []byte
	// Witnessed are what the witnesses hold: the log must hold at least as
	// many events as each, with the same root where it is known. A log
	// cut short together with its later checkpoints, cosignatures and
	// hashes verifies on its own; it cannot undo what a witness saw.
	Witnessed []Witnessed
}

// Witnessed is a size of this log a witness cosigned (and its root, when
// known).
type Witnessed struct {
	Source  string    // the witness's name or the file it came from, for messages
	Size    int64     // the size it cosigned
	Root    tlog.Hash // the root at Size, when HasRoot
	HasRoot bool
}

// VerifyWith is Verify with the auditor's checkpoint and what the
// witnesses hold.
func VerifyWith(ctx context.Context, db *store.DB, vkey string, o VerifyOptions) (VerifyResult, error) {
	auditor := o.Auditor
	var res VerifyResult
	logV, err := note.NewVerifier(vkey)
	if err != nil {
		return res, fmt.Errorf("audit log public key: %w", err)
	}
	// A *VerifyError is the answer, not a storage failure: keep it out of
	// the store's error normalisation.
	var verr error
	err = db.Read(ctx, func(tx *store.Tx) error {
		err := verify(tx, logV, auditor, o.Witnessed, &res)
		var ve *VerifyError
		if errors.As(err, &ve) {
			verr = err
			return nil
		}
		return err
	})
	if err == nil {
		err = verr
	}
	return res, err
}

func verify(tx *store.Tx, logV note.Verifier, auditor []byte, witnessed []Witnessed, res *VerifyResult) error {
	size, err := tx.AuditSize()
	if err != nil {
		return err
	}
	hashes := make(memHashes, 0, tlog.StoredHashCount(size+1))
	// The scan (SQLite) and the checks and hashing (Go) run on two
	// goroutines, in batches.
	batches := make(chan []store.AuditRow, 4)
	scanErr := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		defer close(batches)
		const n = 2048
		batch := make([]store.AuditRow, 0, n)
		scanErr <- tx.ScanAudit(func(r store.AuditRow) error {
			batch = append(batch, r)
			if len(batch) == n {
				select {
				case batches <- batch:
				case <-stop:
					return errStopped
				}
				batch = make([]store.AuditRow, 0, n)
			}
			return nil
		})
		if len(batch) > 0 {
			select {
			case batches <- batch:
			case <-stop:
			}
		}
	}()
	next := int64(0)
	check := func(r store.AuditRow) error {
		if r.Index != next {
			return bad(next, "event missing (the next stored index is %d)", r.Index)
		}
		var rec recordColumns
		if err := json.Unmarshal(r.Record, &rec); err != nil || rec.V != 1 {
			return bad(r.Index, "the record does not decode")
		}
		if rec.Time != r.Time || rec.Actor != r.ActorID || rec.Patient != r.PatientID || rec.Action != r.Action {
			return bad(r.Index, "its searchable columns disagree with the hashed record")
		}
		hs, err := tlog.StoredHashesForRecordHash(r.Index, tlog.RecordHash(r.Record), &hashes)
		if err != nil {
			return err
		}
		hashes = append(hashes, hs...)
		next++
		return nil
	}
	var checkErr error
	for batch := range batches {
		for _, r := range batch {
			if checkErr = check(r); checkErr != nil {
				break
			}
		}
		if checkErr != nil {
			close(stop)
			for range batches {
			}
			break
		}
	}
	if err := <-scanErr; err != nil && !errors.Is(err, errStopped) && checkErr == nil {
		return err
	}
	if checkErr != nil {
		return checkErr
	}
	res.Size = next
	// Stored tree hashes against the recomputed ones.
	var stored int64
	err = tx.ScanAuditHashes(func(id int64, h []byte) error {
		if id != stored {
			level, n := tlog.SplitStoredHashIndex(stored)
			return bad(n<<level, "a stored tree hash is missing")
		}
		if id >= int64(len(hashes)) {
			return bad(res.Size, "tree hashes exist for events that are missing (the log was cut short)")
		}
		if !bytes.Equal(h, hashes[id][:]) {
			level, n := tlog.SplitStoredHashIndex(id)
			if level > 0 {
				// Every leaf below matched (leaves come first in id
				// order): the hash table itself was edited.
				return bad(-1, "stored tree hash %d (level %d) was altered", id, level)
			}
			return bad(n, "the event's bytes differ from what was hashed into the tree when it was appended")
		}
		stored++
		return nil
	})
	if err != nil {
		return err
	}
	if stored != int64(len(hashes)) {
		return bad(-1, "%d stored tree hashes, %d expected", stored, len(hashes))
	}
	if res.Size > 0 {
		if res.Root, err = tlog.TreeHash(res.Size, &hashes); err != nil {
			return err
		}
	}
	// Checkpoints.
	cks, err := tx.Checkpoints()
	if err != nil {
		return err
	}
	roots := map[int64]tlog.Hash{}
	var goodSize int64
	for _, c := range cks {
		size, root, err := openCheckpoint(c.Note, logV)
		if err != nil {
			return bad(-1, "checkpoint of size %d: %v", c.Size, err)
		}
		if size != c.Size {
			return bad(-1, "checkpoint stored as size %d says %d", c.Size, size)
		}
		if size > res.Size {
			return bad(res.Size, "a signed checkpoint covers %d events but only %d are stored (the tail was cut)", size, res.Size)
		}
		want, err := tlog.TreeHash(size, &hashes)
		if err != nil {
			return err
		}
		if want != root {
			return bad(-1, "events in the range %d to %d were rewritten (and their tree hashes recomputed): the tree no longer matches the checkpoint signed at size %d", goodSize, size-1, size)
		}
		roots[size] = root
		goodSize = size
		res.Checkpoints++
		res.Signed = size
	}
	// Cosignatures.
	ws, err := tx.Witnesses()
	if err != nil {
		return err
	}
	wv := map[string]note.Verifier{}
	for _, w := range ws {
		if v, err := witness.NewCosignatureVerifier(w.VKey); err == nil {
			wv[w.Name] = v
		}
	}
	cos, err := tx.Cosignatures()
	if err != nil {
		return err
	}
	byCk := map[int64][]byte{}
	for _, c := range cks {
		byCk[c.Size] = c.Note
	}
	for _, c := range cos {
		v, ok := wv[c.Witness]
		if !ok {
			return bad(-1, "a cosignature of size %d is from unknown witness %q", c.Size, c.Witness)
		}
		if _, ok := byCk[c.Size]; !ok {
			return bad(-1, "a cosignature of size %d has no checkpoint", c.Size)
		}
		n, err := note.Open(append(append([]byte(nil), byCk[c.Size]...), c.Signature...), note.VerifierList(logV, v))
		if err != nil || !signedBy(n, v) {
			return bad(-1, "the cosignature of witness %q on size %d does not verify", c.Witness, c.Size)
		}
		res.Cosignatures++
	}
	// The auditor's checkpoint.
	if auditor != nil {
		size, root, err := openCheckpoint(auditor, logV)
		if err != nil {
			return bad(-1, "the auditor's checkpoint: %v", err)
		}
		if size > res.Size {
			return bad(res.Size, "the auditor's checkpoint covers %d events but only %d are stored (the tail was cut)", size, res.Size)
		}
		want, err := tlog.TreeHash(size, &hashes)
		if err != nil {
			return err
		}
		if want != root {
			return bad(-1, "the log is not consistent with the auditor's checkpoint of size %d: events before index %d were rewritten", size, size)
		}
	}
	// What the witnesses hold.
	for _, w := range witnessed {
		if w.Size > res.Size {
			return bad(res.Size, "%q has cosigned %d events of this log but only %d are stored (the tail was cut)", w.Source, w.Size, res.Size)
		}
		if !w.HasRoot || w.Size == 0 {
			continue
		}
		want, err := tlog.TreeHash(w.Size, &hashes)
		if err != nil {
			return err
		}
		if want != w.Root {
			return bad(-1, "the log is not consistent with the checkpoint of size %d that %q cosigned: events before index %d were rewritten", w.Size, w.Source, w.Size)
		}
	}
	return nil
}

// ParseWitnessed reads a cosigned checkpoint kept as a file: a note the
// log signed (vkey) with, usually, witness cosignatures appended. The log's
// own signature is what proves the log once had that size; cosignatures
// from the witnesses in witnessVKeys are counted and must verify.
func ParseWitnessed(source string, msg []byte, vkey string, witnessVKeys []string) (Witnessed, int, error) {
	logV, err := note.NewVerifier(vkey)
	if err != nil {
		return Witnessed{}, 0, fmt.Errorf("audit log public key: %w", err)
	}
	size, root, err := openCheckpoint(msg, logV)
	if err != nil {
		return Witnessed{}, 0, fmt.Errorf("%q: %v", source, err)
	}
	cosigned := 0
	for _, k := range witnessVKeys {
		v, err := witness.NewCosignatureVerifier(k)
		if err != nil {
			continue
		}
		n, err := note.Open(msg, note.VerifierList(logV, v))
		if err == nil && signedBy(n, v) {
			cosigned++
		}
	}
	return Witnessed{Source: source, Size: size, Root: root, HasRoot: true}, cosigned, nil
}

// AskWitnesses asks every witness configured in db for the latest size of
// this log it cosigned, by resubmitting a checkpoint the log signed: the
// newest stored (or, when none is stored, fallback: the auditor's). It
// needs no key: the checkpoints are already signed.
//
// A size counts as confirmed only with the witness's cosignature, checked
// with its key: a witness that answers with a smaller size than the newest
// checkpoint is asked again with the stored checkpoint of that size. An
// answer larger than the log is returned as it is (verify then fails: a
// false answer can make a log look cut, never make a cut log pass). A
// witness that cannot be asked or does not confirm is an error in errs.
//
// pinned are witness keys the auditor keeps (hush audit verify
// --witness-vkey): each must be configured in db, so that a database writer
// cannot silence the witnesses by deleting or replacing their rows.
func AskWitnesses(ctx context.Context, db *store.DB, fallback []byte, client *http.Client, pinned ...string) (got []Witnessed, errs []error) {
	var ws []store.WitnessRow
	var cks []store.CheckpointRow
	err := db.Read(ctx, func(tx *store.Tx) error {
		var err error
		if ws, err = tx.Witnesses(); err != nil {
			return err
		}
		cks, err = tx.Checkpoints()
		return err
	})
	if err != nil {
		return nil, []error{err}
	}
	bySize := map[int64][]byte{}
	var newest []byte
	var newestSize int64 = -1
	for _, c := range cks {
		bySize[c.Size] = c.Note
		if c.Size > newestSize {
			newest, newestSize = c.Note, c.Size
		}
	}
	if newest == nil {
		newest = fallback
	}
	for _, k := range pinned {
		if !slices.ContainsFunc(ws, func(w store.WitnessRow) bool { return w.VKey == k }) {
			errs = append(errs, fmt.Errorf("the pinned witness key %q is not configured in the database: its witness was removed or replaced", k))
		}
	}
	if len(ws) > 0 && newest == nil {
		return nil, append(errs, errors.New("no signed checkpoint to ask the witnesses with"))
	}
	for _, w := range ws {
		v, err := witness.NewCosignatureVerifier(w.VKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("witness %q: its key is malformed", w.Name))
			continue
		}
		wc := &witness.Witness{URL: w.URL, Verifier: v, Client: client}
		size, cosig, err := wc.Latest(ctx, newest)
		if err == nil && cosig == nil && size < newestSize {
			// Behind the newest checkpoint: confirm with the stored one
			// of the size it names.
			if ck, ok := bySize[size]; ok {
				size, cosig, err = wc.Latest(ctx, ck)
			}
		}
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("witness %q could not be asked: %w", w.Name, err))
		case cosig == nil && size > 0 && size <= newestSize:
			errs = append(errs, fmt.Errorf("witness %q answered size %d without cosigning it", w.Name, size))
		default:
			// Confirmed, larger than the log (verify fails on it), or 0:
			// a witness that has cosigned nothing of this log yet.
			got = append(got, Witnessed{Source: "witness " + w.Name, Size: size})
		}
	}
	return got, errs
}

func signedBy(n *note.Note, v note.Verifier) bool {
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			return true
		}
	}
	return false
}

// openCheckpoint verifies a checkpoint's signature by the log key and
// parses it. Unknown cosignatures on it are ignored.
func openCheckpoint(msg []byte, logV note.Verifier) (int64, tlog.Hash, error) {
	n, err := note.Open(msg, note.VerifierList(logV))
	if err != nil {
		var unk *note.UnverifiedNoteError
		if !errors.As(err, &unk) {
			return 0, tlog.Hash{}, fmt.Errorf("signature does not verify: %w", err)
		}
		return 0, tlog.Hash{}, errors.New("not signed by this log's key")
	}
	if !signedBy(n, logV) {
		return 0, tlog.Hash{}, errors.New("not signed by this log's key")
	}
	origin, size, root, err := parseCheckpoint(n.Text)
	if err == nil && origin != logV.Name() {
		return 0, tlog.Hash{}, errors.New("its origin line is not this log's")
	}
	return size, root, err
}
