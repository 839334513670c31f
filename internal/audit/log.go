package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// maxBatch caps how many events share one commit.
const maxBatch = 512

// Log appends events and signs checkpoints.
type Log struct {
	db       *store.DB
	origin   string
	signer   note.Signer   // nil: the log cannot sign (verify-only)
	verifier note.Verifier // the log's own key
	private  *seal.Key     // seals events' private parts; nil: cannot
	headKey  *seal.Key     // MACs the last-signed head; nil: not checked
	now      func() time.Time

	// OnAlert is called (besides storing the alert) for every alert the
	// log raises: a head that does not match (audit.*), a witness that
	// refuses a checkpoint or cannot be reached (witness.*). The clinic
	// sends it to its remote alert channels: the table the alert is stored
	// in lives in the data directory an insider controls. May be nil.
	OnAlert func(kind, detail string)

	mu     sync.Mutex
	closed bool
	queue  chan *pending
	done   chan struct{}

	ckMu sync.Mutex // one checkpoint at a time

	alertMu   sync.Mutex
	lastAlert map[string]time.Time

	freeSpace      func() (uint64, error)
	reserve, floor uint64
	spaceMu        sync.Mutex
	spaceAt        time.Time // when free was last read
	free           uint64
}

type pending struct {
	ev  Event
	idx int64
	err chan error
}

// Options configure a Log.
type Options struct {
	Origin   string        // the checkpoint origin line
	Signer   note.Signer   // signs checkpoints (nil for a verify-only log)
	Verifier note.Verifier // the log's public key
	Private  *seal.Key     // seals the private part of events
	// HeadKey MACs the last signed (size, root), so that the log refuses
	// to sign a tree that does not extend it. nil in tests of the bare log.
	HeadKey *seal.Key
	// FreeSpace reports the free bytes of the file system the log lives
	// on (syscall.Statfs of the data directory). nil: space is not
	// watched. See Reserve and Floor.
	FreeSpace func() (uint64, error)
	// Reserve is the free space below which HasRoomForNoise says no, so
	// that events nobody signed in for (rejected tokens) cannot eat the
	// room that the audit events of real work need. Floor is the free
	// space below which Append refuses every event, and the reads that
	// wait on it, before the disk is full. Zero means the defaults,
	// DefaultReserve and DefaultFloor.
	Reserve, Floor uint64
}

// Disk space defaults (see Options).
const (
	DefaultReserve = 256 << 20
	DefaultFloor   = 32 << 20
)

// New returns a log over db and starts its group committer.
func New(db *store.DB, o Options) *Log {
	l := &Log{db: db, origin: o.Origin, signer: o.Signer, verifier: o.Verifier, private: o.Private, headKey: o.HeadKey, now: time.Now,
		queue: make(chan *pending, 4*maxBatch), done: make(chan struct{}),
		freeSpace: o.FreeSpace, reserve: o.Reserve, floor: o.Floor}
	if l.reserve == 0 {
		l.reserve = DefaultReserve
	}
	if l.floor == 0 {
		l.floor = DefaultFloor
	}
	go l.commitLoop()
	return l
}

// spaceEvery is how long a reading of the free space is trusted.
const spaceEvery = time.Second

// freeBytes returns the free space of the log's file system, read at most
// once every spaceEvery, and false when it is not watched or cannot be
// read (then nothing is refused for space).
func (l *Log) freeBytes() (uint64, bool) {
	if l.freeSpace == nil {
		return 0, false
	}
	l.spaceMu.Lock()
	defer l.spaceMu.Unlock()
	if now := l.now(); l.spaceAt.IsZero() || now.Sub(l.spaceAt) >= spaceEvery || now.Before(l.spaceAt) {
		free, err := l.freeSpace()
		if err != nil {
			return 0, false
		}
		l.free, l.spaceAt = free, now
	}
	return l.free, true
}

// HasRoomForNoise reports whether there is room for events that no
// signed-in person caused (a rejected token): false below the Reserve,
// which then alerts (audit.space, at most once in ten minutes).
func (l *Log) HasRoomForNoise() bool {
	free, ok := l.freeBytes()
	if !ok || free >= l.reserve {
		return true
	}
	l.alertOnce("audit.space", "audit.space", fmt.Sprintf("%d MiB free in the data directory, below the reserve of %d MiB: unauthenticated failures are no longer logged", free>>20, l.reserve>>20))
	return false
}

var errNoSpace = hush.Errorf(hush.EUNAVAILABLE, "the data directory is nearly full, so the audit log takes no more events")

// Origin returns the checkpoint origin line.
func (l *Log) Origin() string { return l.origin }

// Close stops the committer after the queued events are written.
func (l *Log) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	close(l.queue)
	l.mu.Unlock()
	<-l.done
}

// AppendTx appends ev inside the caller's write transaction, so that the
// change it records and the event commit together or not at all.
func (l *Log) AppendTx(tx *store.Tx, ev Event) (int64, error) {
	if ev.Time.IsZero() {
		ev.Time = l.now()
	}
	rec, err := encode(ev, l.origin, l.private)
	if err != nil {
		return 0, err
	}
	n, err := tx.AuditSize()
	if err != nil {
		return 0, err
	}
	hashes, err := tlog.StoredHashes(n, rec, txReader{tx})
	if err != nil {
		return 0, fmt.Errorf("audit: tree hashes: %w", err)
	}
	if err := tx.InsertAuditEvent(store.AuditRow{Index: n, Time: ev.Time.UnixMilli(), ActorID: ev.ActorID, PatientID: ev.PatientID, Action: ev.Action, Record: rec}); err != nil {
		return 0, err
	}
	hb := make([][]byte, len(hashes))
	for i := range hashes {
		hb[i] = hashes[i][:]
	}
	if err := tx.InsertAuditHashes(tlog.StoredHashIndex(0, n), hb); err != nil {
		return 0, err
	}
	return n, nil
}

// errClosed is returned by Append after Close.
var errClosed = hush.Errorf(hush.EUNAVAILABLE, "the audit log is closed")

// Append appends events and returns when they are durable. A caller that is
// about to return data must not do so if Append fails: no event, no data.
func (l *Log) Append(ctx context.Context, evs ...Event) error {
	if free, ok := l.freeBytes(); ok && free < l.floor {
		l.alertOnce("audit.space", "audit.space", fmt.Sprintf("%d MiB free in the data directory, below the floor of %d MiB: reads are refused", free>>20, l.floor>>20))
		return errNoSpace
	}
	ps := make([]*pending, len(evs))
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errClosed
	}
	for i, ev := range evs {
		if ev.Time.IsZero() {
			ev.Time = l.now()
		}
		ps[i] = &pending{ev: ev, err: make(chan error, 1)}
		select {
		case l.queue <- ps[i]:
		case <-ctx.Done():
			l.mu.Unlock()
			return ctx.Err()
		}
	}
	l.mu.Unlock()
	var first error
	for _, p := range ps {
		if err := <-p.err; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return hush.Wrap(hush.EUNAVAILABLE, "the audit log cannot be written, so the request is refused", first)
	}
	return nil
}

// commitLoop writes queued events: everything waiting when a commit starts
// goes into that commit (one transaction, one fsync).
func (l *Log) commitLoop() {
	defer close(l.done)
	for p := range l.queue {
		batch := []*pending{p}
	drain:
		for len(batch) < maxBatch {
			select {
			case q, ok := <-l.queue:
				if !ok {
					break drain
				}
				batch = append(batch, q)
			default:
				break drain
			}
		}
		err := l.db.ReadWrite(context.Background(), func(tx *store.Tx) error {
			for _, p := range batch {
				idx, err := l.AppendTx(tx, p.ev)
				if err != nil {
					return err
				}
				p.idx = idx
			}
			return nil
		})
		for _, p := range batch {
			p.err <- err
		}
	}
}

// txReader reads stored hashes through a transaction.
type txReader struct{ tx *store.Tx }

func (r txReader) ReadHashes(ids []int64) ([]tlog.Hash, error) {
	bs, err := r.tx.AuditHashes(ids)
	if err != nil {
		return nil, err
	}
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		if len(b) != tlog.HashSize {
			return nil, errors.New("audit: stored hash has the wrong size")
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// Checkpoint is a signed tree head.
type Checkpoint struct {
	Size int64
	Root tlog.Hash
	Note []byte // the signed note, with any cosignatures appended
}

// checkpointText is the C2SP tlog-checkpoint body.
func checkpointText(origin string, size int64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// parseCheckpoint parses a checkpoint body.
func parseCheckpoint(text string) (origin string, size int64, root tlog.Hash, err error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return "", 0, root, errors.New("checkpoint has fewer than three lines")
	}
	size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return "", 0, root, errors.New("checkpoint size is not a number")
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return "", 0, root, errors.New("checkpoint root hash is malformed")
	}
	copy(root[:], h)
	return lines[0], size, root, nil
}

// Sign signs a checkpoint of the log as it is now, if it grew since the last
// one, stores it and returns the newest checkpoint. It does not contact
// witnesses (see Publish).
func (l *Log) Sign(ctx context.Context) (Checkpoint, error) {
	if l.signer == nil {
		return Checkpoint{}, errors.New("audit: this log has no signing key")
	}
	l.ckMu.Lock()
	defer l.ckMu.Unlock()
	var ck Checkpoint
	err := l.db.ReadWrite(ctx, func(tx *store.Tx) error {
		n, err := tx.AuditSize()
		if err != nil {
			return err
		}
		// The head is checked even when there is nothing new to sign: a
		// server restarted on a log whose tail was cut (with the later
		// checkpoints) must notice at once, not at its next event.
		if err := l.checkHead(tx, n); err != nil {
			return err
		}
		if last, err := tx.LatestCheckpoint(); err == nil && last.Size == n {
			ck.Size, ck.Note = last.Size, last.Note
			return nil
		}
		if n == 0 {
			return hush.Errorf(hush.ENOTFOUND, "the audit log is empty")
		}
		root, err := tlog.TreeHash(n, txReader{tx})
		if err != nil {
			return err
		}
		signed, err := note.Sign(&note.Note{Text: checkpointText(l.origin, n, root)}, l.signer)
		if err != nil {
			return err
		}
		ck = Checkpoint{Size: n, Root: root, Note: signed}
		if err := tx.InsertCheckpoint(n, signed, l.now().UnixMilli()); err != nil {
			return err
		}
		if l.headKey != nil {
			return tx.PutAuditHead(n, root[:], l.headMAC(n, root))
		}
		return nil
	})
	if ae := (*headError)(nil); errors.As(err, &ae) {
		l.alertOnce(ae.kind, ae.kind, ae.detail)
	}
	if err != nil {
		return Checkpoint{}, err
	}
	if ck.Root == (tlog.Hash{}) {
		n, err := note.Open(ck.Note, note.VerifierList(l.verifier))
		if err != nil {
			return Checkpoint{}, err
		}
		_, _, ck.Root, err = parseCheckpoint(n.Text)
		if err != nil {
			return Checkpoint{}, err
		}
	}
	return ck, nil
}

func (l *Log) headMAC(size int64, root tlog.Hash) []byte {
	return l.headKey.MAC(seal.AD("hush audit head v1", l.origin, strconv.FormatInt(size, 10), string(root[:])))
}

type headError struct{ kind, detail string }

func (e *headError) Error() string { return e.detail }

// InitHead records the empty log as the last signed head (at clinic init),
// so that from then on a missing head means tampering.
func (l *Log) InitHead(tx *store.Tx) error {
	return tx.PutAuditHead(0, make([]byte, tlog.HashSize), l.headMAC(0, tlog.Hash{}))
}

// checkHead refuses to sign unless the tree on disk extends the last head
// this clinic signed: same root at that size, and not shorter.
func (l *Log) checkHead(tx *store.Tx, n int64) error {
	if l.headKey == nil {
		return nil
	}
	size, rootb, mac, err := tx.AuditHead()
	if err != nil {
		return &headError{"audit.tampered", "the record of the last signed checkpoint is missing: the audit log may have been rewritten; refusing to sign"}
	}
	var root tlog.Hash
	copy(root[:], rootb)
	if len(rootb) != tlog.HashSize || !l.headKey.VerifyMAC(seal.AD("hush audit head v1", l.origin, strconv.FormatInt(size, 10), string(root[:])), mac) {
		return &headError{"audit.tampered", "the record of the last signed checkpoint fails its integrity check; refusing to sign"}
	}
	if size > n {
		return &headError{"audit.truncated", fmt.Sprintf("the audit log holds %d events but %d were signed: events were removed; refusing to sign", n, size)}
	}
	if size == 0 {
		return nil
	}
	got, err := tlog.TreeHash(size, txReader{tx})
	if err != nil {
		return err
	}
	if got != root {
		return &headError{"audit.rewritten", fmt.Sprintf("the first %d events no longer hash to the checkpoint signed at that size: the log was rewritten; refusing to sign", size)}
	}
	return nil
}

// Latest returns the newest stored checkpoint with the cosignatures kept for
// it appended to its signature block.
func (l *Log) Latest(ctx context.Context) (Checkpoint, error) {
	var ck Checkpoint
	err := l.db.Read(ctx, func(tx *store.Tx) error {
		last, err := tx.LatestCheckpoint()
		if err != nil {
			return err
		}
		cos, err := tx.Cosignatures()
		if err != nil {
			return err
		}
		ck.Size, ck.Note = last.Size, append([]byte(nil), last.Note...)
		for _, c := range cos {
			if c.Size == last.Size {
				ck.Note = append(ck.Note, c.Signature...)
			}
		}
		return nil
	})
	if err != nil {
		return ck, err
	}
	n, err := note.Open(ck.Note, note.VerifierList(l.verifier))
	if err != nil {
		return ck, err
	}
	_, _, ck.Root, err = parseCheckpoint(n.Text)
	return ck, err
}

// Proof is an inclusion proof of one event in a checkpoint.
type Proof struct {
	Index      int64
	Record     []byte
	Leaf       tlog.Hash
	Checkpoint Checkpoint
	Hashes     tlog.RecordProof
}

// Prove returns an inclusion proof of event index in the latest checkpoint,
// checked before it is returned.
func (l *Log) Prove(ctx context.Context, index int64) (Proof, error) {
	ck, err := l.Latest(ctx)
	if err != nil {
		return Proof{}, err
	}
	if index < 0 || index >= ck.Size {
		return Proof{}, hush.Errorf(hush.EINVALID, "index %d is not in the latest checkpoint (size %d)", index, ck.Size)
	}
	p := Proof{Index: index, Checkpoint: ck}
	err = l.db.Read(ctx, func(tx *store.Tx) error {
		r, err := tx.AuditEvent(index)
		if err != nil {
			return err
		}
		p.Record = r.Record
		p.Hashes, err = tlog.ProveRecord(ck.Size, index, txReader{tx})
		return err
	})
	if err != nil {
		return Proof{}, err
	}
	p.Leaf = tlog.RecordHash(p.Record)
	if err := tlog.CheckRecord(p.Hashes, ck.Size, ck.Root, index, p.Leaf); err != nil {
		return Proof{}, hush.Wrap(hush.EINTERNAL, "the stored event is not in the checkpoint", err)
	}
	return p, nil
}

// Search returns events matching q, newest first, with private parts opened
// when the log holds the key.
func (l *Log) Search(ctx context.Context, q store.AuditQuery) ([]Event, error) {
	var out []Event
	err := l.db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.SearchAudit(q)
		if err != nil {
			return err
		}
		for _, r := range rows {
			ev, err := decode(r.Index, r.Record, l.origin, l.private)
			if err != nil {
				return hush.Wrap(hush.EINTERNAL, "an audit record does not decode", err)
			}
			out = append(out, ev)
		}
		return nil
	})
	return out, err
}

// Alerts returns the alerts the log raised.
func (l *Log) Alerts(ctx context.Context) ([]store.AlertRow, error) {
	var out []store.AlertRow
	err := l.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.Alerts()
		return err
	})
	return out, err
}

// alertOnce raises an alert unless the same one (by key) was raised in the
// last ten minutes: a witness that is down must not flood the alerts.
func (l *Log) alertOnce(key, kind, detail string) {
	l.alertMu.Lock()
	if l.lastAlert == nil {
		l.lastAlert = map[string]time.Time{}
	}
	if t, ok := l.lastAlert[key]; ok && l.now().Sub(t) < 10*time.Minute {
		l.alertMu.Unlock()
		return
	}
	l.lastAlert[key] = l.now()
	l.alertMu.Unlock()
	l.alert(kind, detail)
}

func (l *Log) alert(kind, detail string) {
	l.db.ReadWrite(context.Background(), func(tx *store.Tx) error {
		return tx.InsertAlert(l.now().UnixMilli(), kind, detail)
	})
	if l.OnAlert != nil {
		l.OnAlert(kind, detail)
	}
}

// Replay calls fn for every event since the given time whose action is one
// of actions, oldest first, with private parts opened: the tripwires
// rebuild their windows from the log at start-up this way.
func (l *Log) Replay(ctx context.Context, since time.Time, actions []string, fn func(Event)) error {
	// Selected by the hashed records, not the clear action and time
	// columns, which a database writer could relabel to empty the
	// detectors' memory: the first event of the window is found by a
	// binary search on the records' own times (they grow with the index),
	// and every event after it is decoded and filtered here.
	want := map[string]bool{}
	for _, a := range actions {
		want[a] = true
	}
	return l.db.Read(ctx, func(tx *store.Tx) error {
		n, err := tx.AuditSize()
		if err != nil {
			return err
		}
		timeAt := func(idx int64) (int64, error) {
			r, err := tx.AuditEvent(idx)
			if err != nil {
				return 0, err
			}
			ev, err := decode(r.Index, r.Record, l.origin, nil)
			if err != nil {
				return 0, hush.Wrap(hush.EINTERNAL, "an audit record does not decode", err)
			}
			return ev.Time.UnixMilli(), nil
		}
		lo, hi := int64(0), n // the first index whose time is >= since
		for lo < hi {
			mid := lo + (hi-lo)/2
			t, err := timeAt(mid)
			if err != nil {
				return err
			}
			if t < since.UnixMilli() {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return tx.ScanAuditFrom(lo, func(r store.AuditRow) error {
			if len(want) > 0 && !want[r.Action] && !recordHasAction(r.Record, want) {
				return nil
			}
			ev, err := decode(r.Index, r.Record, l.origin, l.private)
			if err != nil {
				return hush.Wrap(hush.EINTERNAL, "an audit record does not decode", err)
			}
			if len(want) > 0 && !want[ev.Action] {
				return nil
			}
			fn(ev)
			return nil
		})
	})
}

// recordHasAction reports whether a record's own action (not its clear
// column) is one of want, without decoding the rest of it.
func recordHasAction(rec []byte, want map[string]bool) bool {
	var r struct {
		Action string `json:"action"`
	}
	return json.Unmarshal(rec, &r) == nil && want[r.Action]
}

// ScanFrom calls fn for every event from index from on, decoded from the
// hashed record (never from the clear columns, which a database writer
// can relabel) and checked against its stored leaf hash: a record that
// does not match its leaf is an error. For the security checks that must
// see every event since a point (the clinic's state digest).
func (l *Log) ScanFrom(tx *store.Tx, from int64, fn func(Event) error) error {
	return tx.ScanAuditFrom(from, func(r store.AuditRow) error {
		hs, err := tx.AuditHashes([]int64{tlog.StoredHashIndex(0, r.Index)})
		if err != nil || len(hs) != 1 {
			return hush.Errorf(hush.EINTERNAL, "an audit event has no stored leaf hash")
		}
		leaf := tlog.RecordHash(r.Record)
		if string(hs[0]) != string(leaf[:]) {
			return hush.Errorf(hush.EINTERNAL, "an audit record does not match its leaf hash")
		}
		ev, err := decode(r.Index, r.Record, l.origin, nil)
		if err != nil {
			return hush.Wrap(hush.EINTERNAL, "an audit record does not decode", err)
		}
		return fn(ev)
	})
}
