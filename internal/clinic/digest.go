package clinic

// The state digest: one MAC over all the security state, so that a row
// put back from an older copy of the file — MACs and all — is noticed
// (docs/threat-model.md, "The database writer").
//
// Per-row MACs say a row was written by Hush, not that it is the newest
// row Hush wrote. The digest, kept in meta under a KEK-derived key, names
// the newest state of everything that decides access:
//
//   - records: the sum, modulo 2^256, of a keyed hash (HMAC under the
//     state key) of each record head's "record:<id>:<generation>". It is
//     updated incrementally when a head changes, so a clinic of 50,000
//     patients pays one subtraction and one addition, not a rescan. An
//     attacker cannot compute the keyed hashes, so cannot find old heads
//     whose sum matches.
//   - everything else, small and rescanned when it changes: each user's
//     state generation (its row MAC covers the rest), each API token's
//     expiry, revocation and whether its key is still there, every
//     clinic-wide value in meta (settings, canaries, keys), and every
//     care-team request with its outcome.
//
// Every write transaction of the clinic checks that the small part still
// matches the file before it changes anything, and seals the new state
// after; the whole digest is checked at open (a mismatch refuses to start)
// and by the running server every sweep (a mismatch is an alert, and
// writes stop). What the digest cannot see is the whole file rolled back
// at once, digest included: the audit log's witnesses see that.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"sort"
	"strconv"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

const metaStateDigest = "state_digest"

type stateDigest struct {
	heads [32]byte
	small [32]byte
	pos   int64 // the audit index of the newest anchor event (a seal's, or a head's)
}

// digestAnchor is the Entity of the audit event each seal of the digest
// appends; the digest names its index, and no later one may exist.
const digestAnchor = "digest"

// elemHash is the keyed hash of one element of the state.
func (c *Clinic) elemHash(e string) [32]byte {
	var out [32]byte
	copy(out[:], c.stateMAC.MAC(seal.AD("hush state element v1", c.id, e)))
	return out
}

// addElem adds (sign 1) or removes (sign -1) an element's hash to a sum,
// modulo 2^256 (big-endian, four 64-bit limbs).
func addElem(sum [32]byte, h [32]byte, sign int) [32]byte {
	var out [32]byte
	var carry uint64
	for i := 3; i >= 0; i-- {
		a := binary.BigEndian.Uint64(sum[i*8:])
		b := binary.BigEndian.Uint64(h[i*8:])
		var r uint64
		if sign < 0 {
			r, carry = bits.Sub64(a, b, carry)
		} else {
			r, carry = bits.Add64(a, b, carry)
		}
		binary.BigEndian.PutUint64(out[i*8:], r)
	}
	return out
}

func headElem(patientID string, gen int64) string {
	return "record:" + patientID + ":" + strconv.FormatInt(gen, 10)
}

// headsSum computes the records part from every head.
func (c *Clinic) headsSum(tx *store.Tx) ([32]byte, error) {
	var sum [32]byte
	heads, err := tx.RecordHeads()
	if err != nil {
		return sum, err
	}
	for id, h := range heads {
		sum = addElem(sum, c.elemHash(headElem(id, h.Gen)), 1)
	}
	return sum, nil
}

func nullStr(n sql.NullString) string {
	if !n.Valid {
		return "-"
	}
	return n.String
}

// smallSum computes the users, tokens, meta and requests part.
func (c *Clinic) smallSum(tx *store.Tx) ([32]byte, error) {
	var lines []string
	users, err := tx.Users()
	if err != nil {
		return [32]byte{}, err
	}
	for _, u := range users {
		lines = append(lines, "user:"+u.ID+":"+strconv.FormatInt(u.StateGen, 10))
	}
	tokens, err := tx.AllTokens()
	if err != nil {
		return [32]byte{}, err
	}
	for _, t := range tokens {
		lines = append(lines, "token:"+t.ID+":"+t.UserID+":"+nullInt(t.ExpiresAt)+":"+nullInt(t.RevokedAt)+":"+b01(len(t.SealedKey) > 0)+":"+b01(t.KeyWrapped))
	}
	meta, err := tx.AllMeta()
	if err != nil {
		return [32]byte{}, err
	}
	for _, m := range meta {
		if m.Key == metaStateDigest {
			continue
		}
		h := sha256.Sum256(m.Value)
		lines = append(lines, "meta:"+m.Key+":"+hex.EncodeToString(h[:]))
	}
	reqs, err := tx.AllRequests()
	if err != nil {
		return [32]byte{}, err
	}
	for _, r := range reqs {
		lines = append(lines, "request:"+r.ID+":"+r.PatientID+":"+r.ClinicianID+":"+r.RequestedBy+":"+strconv.FormatInt(r.CreatedAt, 10)+":"+
			nullInt(r.ClosedAt)+":"+nullStr(r.ClosedBy)+":"+nullStr(r.Outcome))
	}
	ws, err := tx.Witnesses()
	if err != nil {
		return [32]byte{}, err
	}
	for _, w := range ws {
		// A witness deleted from the file would silence publication (and
		// hide a whole-file rollback from the server): it is state too.
		h := sha256.Sum256(seal.AD(w.Name, w.URL, w.VKey))
		lines = append(lines, "witness:"+w.Name+":"+hex.EncodeToString(h[:]))
	}
	sort.Strings(lines)
	return sha256.Sum256(seal.AD(append([]string{"hush state small v1", c.id}, lines...)...)), nil
}

func (c *Clinic) digestAD(d stateDigest) []byte {
	return seal.AD("hush state digest v1", c.id, string(d.heads[:]), string(d.small[:]), strconv.FormatInt(d.pos, 10))
}

// loadDigest reads the stored digest and checks its MAC.
func (c *Clinic) loadDigest(tx *store.Tx) (stateDigest, error) {
	var d stateDigest
	b, err := tx.Meta(metaStateDigest)
	if err != nil {
		if isNotFound(err) {
			c.integrityAlert("state", "")
			return d, errIntegrity
		}
		return d, err
	}
	if len(b) != 104 {
		c.integrityAlert("state", "")
		return d, errIntegrity
	}
	copy(d.heads[:], b[:32])
	copy(d.small[:], b[32:64])
	d.pos = int64(binary.BigEndian.Uint64(b[64:72]))
	if !c.stateMAC.VerifyMAC(c.digestAD(d), b[72:]) {
		c.integrityAlert("state", "")
		return d, errIntegrity
	}
	return d, nil
}

func (c *Clinic) storeDigest(tx *store.Tx, d stateDigest) error {
	b := append(append([]byte{}, d.heads[:]...), d.small[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(d.pos))
	return tx.SetMeta(metaStateDigest, append(b, c.stateMAC.MAC(c.digestAD(d))...))
}

// sealDigest stores d as the newest state: it appends the seal's anchor
// event to the audit log and names its index, so that a digest put back
// from an older copy is found out by the anchors after it (checkDigest),
// which the log's hashes, head and witnesses keep.
func (c *Clinic) sealDigest(tx *store.Tx, d stateDigest) error {
	idx, err := c.audit.AppendTx(tx, audit.Event{Time: c.now(), ActorID: audit.ActorTripwire, ActorRole: "system", Action: audit.ActStateAnchor,
		Entity: digestAnchor, Purpose: audit.PurposeSecurity, Outcome: audit.OutcomeSuccess})
	if err != nil {
		return err
	}
	d.pos = idx
	return c.storeDigest(tx, d)
}

// initDigest computes and stores the digest from what is on disk: at init
// and at the one-time upgrade only.
func (c *Clinic) initDigest(tx *store.Tx) error {
	var d stateDigest
	var err error
	if d.heads, err = c.headsSum(tx); err != nil {
		return err
	}
	if d.small, err = c.smallSum(tx); err != nil {
		return err
	}
	return c.sealDigest(tx, d)
}

// checkDigest compares the whole digest with the file.
func (c *Clinic) checkDigest(tx *store.Tx) error {
	d, err := c.loadDigest(tx)
	if err != nil {
		return err
	}
	heads, err := c.headsSum(tx)
	if err != nil {
		return err
	}
	small, err := c.smallSum(tx)
	if err != nil {
		return err
	}
	if heads != d.heads || small != d.small {
		c.integrityAlert("state", "")
		return errIntegrity
	}
	// The digest must be the newest: the anchor it names is in the log at
	// its index, and no later anchor is (read from the hashed records, each
	// checked against its leaf hash).
	first, stale := true, false
	err = c.audit.ScanFrom(tx, d.pos, func(ev audit.Event) error {
		// Every change of the state appends an anchor and the digest names
		// the newest: a later one means this digest is an older one.
		isAnchor := ev.Action == audit.ActStateAnchor
		if first {
			first = false
			if ev.Index != d.pos || !isAnchor {
				stale = true
			}
			return nil
		}
		if isAnchor {
			stale = true
		}
		return nil
	})
	if err != nil && hush.ErrorCode(err) != hush.EINTERNAL {
		return err
	}
	if err != nil || first || stale {
		c.integrityAlert("state", "")
		return errIntegrity
	}
	return nil
}

// CheckState compares the whole state digest with the file (the running
// server, every sweep): a mismatch is an alert, and from then on this
// process writes nothing and authenticates no one (API sessions end; web
// sessions fail their next Active check) until it is restarted, which
// refuses to start until the file is restored.
func (c *Clinic) CheckState(ctx context.Context) {
	if !c.digestReady.Load() {
		return
	}
	err := c.db.Read(ctx, c.checkDigest)
	if err == errIntegrity {
		c.stateBad.Store(true)
		// Every session ends: their keys were unsealed through state that
		// can no longer be trusted.
		c.mu.Lock()
		for id, s := range c.tokens {
			s.wipe()
			delete(c.tokens, id)
		}
		c.mu.Unlock()
	}
}

// writeTx runs fn in a write transaction that first checks that the small
// part of the digest still matches the file (nothing was changed outside
// Hush since the last write) and then seals the state fn left. Before the
// digest exists (init, the upgrade) it is a plain transaction.
func (c *Clinic) writeTx(ctx context.Context, fn func(*store.Tx) error) error {
	if c.stateBad.Load() {
		return errIntegrity
	}
	return c.db.ReadWrite(ctx, func(tx *store.Tx) error {
		if !c.digestReady.Load() {
			return fn(tx)
		}
		if err := c.guardSmall(tx); err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			return err
		}
		return c.resealSmall(tx)
	})
}

// guardSmall checks that the small part of the digest still matches the
// file: nothing was changed outside Hush since the last write.
func (c *Clinic) guardSmall(tx *store.Tx) error {
	d, err := c.loadDigest(tx)
	if err != nil {
		return err
	}
	small, err := c.smallSum(tx)
	if err != nil {
		return err
	}
	if small != d.small {
		c.integrityAlert("state", "")
		return errIntegrity
	}
	return nil
}

// resealSmall seals the state a write left (the records part as the write
// moved it, the small part rescanned).
func (c *Clinic) resealSmall(tx *store.Tx) error {
	d, err := c.loadDigest(tx)
	if err != nil {
		return err
	}
	if d.small, err = c.smallSum(tx); err != nil {
		return err
	}
	return c.sealDigest(tx, d)
}

// moveHead updates the records part when a head goes from generation old
// (0: new head) to new, and names the head's anchor event as the digest's
// position (a head changes outside writeTx too: note versions).
func (c *Clinic) moveHead(tx *store.Tx, patientID string, old, new int64, anchor int64) error {
	if !c.digestReady.Load() {
		return nil
	}
	d, err := c.loadDigest(tx)
	if err != nil {
		return err
	}
	if old > 0 {
		d.heads = addElem(d.heads, c.elemHash(headElem(patientID, old)), -1)
	}
	d.heads = addElem(d.heads, c.elemHash(headElem(patientID, new)), 1)
	d.pos = anchor // the head's own anchor: no anchor after the digest's position
	return c.storeDigest(tx, d)
}

// freezeTx is writeTx for freezes: fn runs whatever the digest says (a
// freeze only takes capability away), and the state it leaves is sealed
// only if the file matched the digest before.
func (c *Clinic) freezeTx(ctx context.Context, fn func(*store.Tx) error) error {
	return c.db.ReadWrite(ctx, func(tx *store.Tx) error {
		if !c.digestReady.Load() || c.stateBad.Load() {
			return fn(tx)
		}
		if err := c.guardSmall(tx); err != nil {
			return fn(tx) // frozen all the same; not resealed, the mismatch stays seen
		}
		if err := fn(tx); err != nil {
			return err
		}
		return c.resealSmall(tx)
	})
}

// AddWitness configures a witness of the audit log (C2SP tlog-witness, by
// its URL and cosignature/v1 key): an operator action, sealed into the
// state digest like every other change of what protects the clinic.
func (c *Clinic) AddWitness(ctx context.Context, url, vkey string) (string, error) {
	var name string
	err := c.writeTx(ctx, func(tx *store.Tx) error {
		var err error
		name, err = c.audit.AddWitnessTx(tx, url, vkey)
		return err
	})
	return name, err
}
