package clinic

// Integrity of security state against a database writer without the KEK
// (docs/threat-model.md, "The database writer").
//
// Whatever decides who may read what is authenticated under a KEK-derived
// key, with a generation that only grows:
//
//   - the recovery public key (meta), whose fingerprint hush init prints for
//     the officers to keep and hush serve logs at start: a key that does not verify stops the server;
//   - each user's security state (role, patient, active, deactivation,
//     freeze, must-change, the second factors enrolled, the key generation
//     and public key, the email index), with a change counter; the public
//     key's own MAC binds its generation, so an older key put back from a
//     backup does not verify against the row;
//   - each record's head: its current key epoch and a hash of its current
//     directory entry, with a change counter, so that deleting the newest
//     epoch (to make new notes go to an epoch a revoked clinician holds) or
//     putting back an older directory entry is noticed;
//   - each configured witness (name, URL, key), in package audit.
//
// A row that does not verify is not used, and it is an alert on the
// clinic's channels (alert.integrity.* in the audit log). Rows from before
// these MACs existed are stamped once, at the first open after the upgrade;
// the upgrade is an audit event, so a row whose MAC is later removed (to be
// stamped again) is a failure, not a legacy row.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hushepr/hush/internal/alert"
	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

const metaRecoveryPublicMAC = "recovery_public_key_mac"

// errIntegrity refuses to use security state that fails its MAC.
var errIntegrity = hush.Errorf(hush.EINTERNAL, "stored security state failed its integrity check; the clinic's administrators have been alerted")

func b01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func nullInt(n sql.NullInt64) string {
	if !n.Valid {
		return "-"
	}
	return strconv.FormatInt(n.Int64, 10)
}

// pubKeyMAC authenticates a user's public key together with their id, role
// and key generation, so a database writer can neither swap a key in, nor
// turn a reception account into a clinician that care teams accept, nor
// put back a retired key.
func (c *Clinic) pubKeyMAC(userID string, role hush.Role, gen int64, pub []byte) []byte {
	return c.pubMAC.MAC(seal.AD("hush public key v2", c.id, userID, string(role), strconv.FormatInt(gen, 10), string(pub)))
}

func (c *Clinic) userStateAD(r store.UserRow, gen int64, factors []byte) []byte {
	pk := sha256.Sum256(r.PublicKey)
	return seal.AD("hush user state v1", c.id, r.ID, r.Role, r.PatientID, b01(r.Active), nullInt(r.DeactivatedAt), nullInt(r.FrozenAt),
		b01(r.MustChange), string(factors), strconv.FormatInt(r.KeyGen, 10), string(pk[:]), string(pwHash(r)),
		string(r.PublicKeyMAC), string(r.EmailIndex), strconv.FormatInt(gen, 10))
}

// pwHash binds the password material (salt, verifier, sealed key) to the
// account's state: an old password's material put back in the file does
// not verify.
func pwHash(r store.UserRow) []byte {
	h := sha256.Sum256(seal.AD("hush user password v1", string(r.PwSalt), string(r.PwVerifier), string(r.PwKey)))
	return h[:]
}

// factorsHash hashes the second factors' stored material (the TOTP row,
// each recovery code and whether it is spent, each sealed security key),
// so that an old factor put back in the file — a stolen phone's TOTP
// secret after a reset, a spent or replaced recovery code, an older
// security key state — does not match the account's stamped state.
func factorsHash(material string) []byte {
	parts := strings.Split(material, "|")
	for i, p := range parts {
		items := strings.Split(p, ",")
		sort.Strings(items)
		parts[i] = strings.Join(items, ",")
	}
	h := sha256.Sum256(seal.AD(append([]string{"hush user factors v1"}, parts...)...))
	return h[:]
}

// checkUser verifies a user row's security state (and its public key, when
// it has one). A row that fails is an alert and is not used.
func (c *Clinic) checkUser(r store.UserRow) error {
	ok := r.StateMAC != nil && c.stateMAC.VerifyMAC(c.userStateAD(r, r.StateGen, r.Factors), r.StateMAC) && !c.isStale("user", r.ID) &&
		bytes.Equal(r.Factors, factorsHash(r.FactorMaterial))
	if ok && r.PublicKey != nil {
		ok = c.pubMAC.VerifyMAC(seal.AD("hush public key v2", c.id, r.ID, r.Role, strconv.FormatInt(r.KeyGen, 10), string(r.PublicKey)), r.PublicKeyMAC)
	}
	if !ok {
		c.integrityAlert("user", r.ID)
		return errIntegrity
	}
	return nil
}

// onlyFactorsDiffer reports whether a row that fails its check would pass
// but for its second factors (a TOTP row, recovery codes or security keys
// changed or deleted in the file, nothing else): then resetting the second
// factors, which removes them all and asks for a new enrolment code,
// repairs it safely.
func (c *Clinic) onlyFactorsDiffer(r store.UserRow) bool {
	// The MAC covers the factors' hash as stamped: if it verifies, nothing
	// but the factor tables moved.
	return r.StateMAC != nil && !c.isStale("user", r.ID) && c.stateMAC.VerifyMAC(c.userStateAD(r, r.StateGen, r.Factors), r.StateMAC)
}

// stampUser records a user's current security state under a new
// generation. Callers change the state through the store in the same
// transaction, after the row verified.
func (c *Clinic) stampUser(tx *store.Tx, userID string) error {
	r, err := tx.UserByID(userID)
	if err != nil {
		return err
	}
	gen := r.StateGen + 1
	factors := factorsHash(r.FactorMaterial)
	if err := tx.SetUserState(userID, gen, factors, c.stateMAC.MAC(c.userStateAD(r, gen, factors))); err != nil {
		return err
	}
	return c.anchor(tx, "user", userID, gen)
}

// anchor appends the audit event that fixes a security state's newest
// generation in the log.
func (c *Clinic) anchor(tx *store.Tx, what, id string, gen int64) error {
	_, err := c.anchorAt(tx, what, id, gen)
	return err
}

// anchorAt is anchor, returning the event's index.
func (c *Clinic) anchorAt(tx *store.Tx, what, id string, gen int64) (int64, error) {
	return c.audit.AppendTx(tx, audit.Event{Time: c.now(), ActorID: audit.ActorTripwire, ActorRole: "system", Action: audit.ActStateAnchor,
		Entity: what + ":" + id + ":" + strconv.FormatInt(gen, 10), Purpose: audit.PurposeSecurity, Outcome: audit.OutcomeSuccess})
}

// checkAnchors compares every user row and record head with the newest
// generation the audit log anchored for it. An older row (put back from a
// copy, MAC and all) is an alert and is not used from then on.
//
// The state digest is what refuses a rolled-back file; this replay only
// names the rows when the digest did not match, so it runs then (full is
// false: only each user row's own MAC is checked, to alert early).
func (c *Clinic) checkAnchors(ctx context.Context, full bool) error {
	newest := map[string]int64{}
	replay := c.audit.Replay
	if !full {
		replay = func(context.Context, time.Time, []string, func(audit.Event)) error { return nil }
	}
	err := replay(ctx, time.UnixMilli(0), []string{audit.ActStateAnchor}, func(ev audit.Event) {
		i := strings.LastIndexByte(ev.Entity, ':')
		if i < 0 {
			return
		}
		gen, err := strconv.ParseInt(ev.Entity[i+1:], 10, 64)
		if err == nil && gen > newest[ev.Entity[:i]] {
			newest[ev.Entity[:i]] = gen
		}
	})
	if err != nil {
		return err
	}
	var stale []string
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		users, err := tx.Users()
		if err != nil {
			return err
		}
		for _, u := range users {
			if u.StateGen < newest["user:"+u.ID] {
				stale = append(stale, "user:"+u.ID)
				continue
			}
			c.checkUser(u) // alerts now, not at the account's next use
		}
		heads, err := tx.RecordHeads()
		if err != nil {
			return err
		}
		for id, h := range heads {
			if h.Gen < newest["record:"+id] {
				stale = append(stale, "record:"+id)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.integrity.mu.Lock()
	if c.integrity.stale == nil {
		c.integrity.stale = map[string]bool{}
	}
	for _, k := range stale {
		c.integrity.stale[k] = true
	}
	c.integrity.mu.Unlock()
	for _, k := range stale {
		what, id, _ := strings.Cut(k, ":")
		c.integrityAlert(what, id)
	}
	return nil
}

func (c *Clinic) isStale(what, id string) bool {
	c.integrity.mu.Lock()
	defer c.integrity.mu.Unlock()
	return c.integrity.stale[what+":"+id]
}

// verifiedUser reads a user row and checks its security state.
func (c *Clinic) verifiedUser(tx *store.Tx, userID string) (store.UserRow, error) {
	r, err := tx.UserByID(userID)
	if err != nil {
		return r, err
	}
	return r, c.checkUser(r)
}

// changeUser runs change (which updates the user's row through the store)
// on a row that verifies, and stamps the result.
func (c *Clinic) changeUser(tx *store.Tx, userID string, change func() error) error {
	if _, err := c.verifiedUser(tx, userID); err != nil {
		return err
	}
	if err := change(); err != nil {
		return err
	}
	return c.stampUser(tx, userID)
}

// directoryHash binds a record head to the patient's current directory
// entry and identity-code index.
func directoryHash(p store.PatientRow) []byte {
	h := sha256.New()
	h.Write(seal.AD("hush record head directory v1", string(p.HetuIndex), string(p.Directory)))
	return h.Sum(nil)
}

func (c *Clinic) headAD(h store.RecordHead) []byte {
	return seal.AD("hush record head v1", c.id, h.PatientID, strconv.Itoa(h.Epoch), strconv.FormatInt(h.Gen, 10), string(h.Directory), b01(h.Waiting), string(h.Team), strconv.FormatInt(h.Content, 10))
}

func (c *Clinic) headMAC(h store.RecordHead) []byte { return c.stateMAC.MAC(c.headAD(h)) }

// checkHead verifies a record head against its MAC and against the record's
// stored directory entry.
func (c *Clinic) checkHead(h store.RecordHead, p store.PatientRow) bool {
	return c.stateMAC.VerifyMAC(c.headAD(h), h.MAC) &&
		bytes.Equal(h.Directory, directoryHash(p))
}

// head returns a record's verified head: its MAC holds, it names the
// patient's current directory entry, and its epoch is the newest epoch on
// disk whose public key verifies. Anything else is an alert, and nothing is
// written to the record.
func (c *Clinic) head(tx *store.Tx, patientID string) (store.RecordHead, error) {
	p, err := tx.PatientByID(patientID)
	if err != nil {
		return store.RecordHead{}, err
	}
	h, err := tx.RecordHead(patientID)
	if isNotFound(err) {
		c.integrityAlert("record", patientID)
		return h, errIntegrity
	}
	if err != nil {
		return h, err
	}
	newest, err := tx.CurrentEpoch(patientID)
	if err != nil {
		return h, err
	}
	team, err := tx.CareTeam(patientID)
	if err != nil {
		return h, err
	}
	content, err := tx.RecordContent(patientID)
	if err != nil {
		return h, err
	}
	if !c.checkHead(h, p) || newest != h.Epoch || c.isStale("record", patientID) || !bytes.Equal(h.Team, teamHash(team)) || content != h.Content {
		c.integrityAlert("record", patientID)
		return h, errIntegrity
	}
	pub, mac, err := tx.Epoch(patientID, h.Epoch)
	if err != nil {
		return h, err
	}
	if !c.pubMAC.VerifyMAC(seal.AD("hush record epoch v1", c.id, patientID, strconv.Itoa(h.Epoch), string(pub)), mac) {
		c.integrityAlert("record", patientID)
		return h, errIntegrity
	}
	return h, nil
}

// currentEpoch is the epoch new content of a record is sealed under: the
// one its verified head names.
func (c *Clinic) currentEpoch(tx *store.Tx, patientID string) (int, error) {
	h, err := c.head(tx, patientID)
	return h.Epoch, err
}

// teamHash binds a record head to the active care team.
func teamHash(ids []string) []byte {
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	h := sha256.Sum256(seal.AD(append([]string{"hush record head team v1"}, sorted...)...))
	return h[:]
}

// contentAdded records a new note version or item in the record's head.
// The caller verified the head earlier in the transaction.
func (c *Clinic) contentAdded(tx *store.Tx, patientID string) error {
	return c.teamChanged(tx, patientID)
}

// teamChanged records a record's new care team (or content) in its head
// (same epoch). The caller verified the head earlier in the transaction.
func (c *Clinic) teamChanged(tx *store.Tx, patientID string) error {
	h, err := tx.RecordHead(patientID)
	if err != nil {
		return err
	}
	return c.putHead(tx, patientID, h.Epoch, nil)
}

// putHead records a record's head at epoch, binding the patient's current
// directory entry. waiting says whether the record is still waiting for
// its first clinician (nil: as it was).
func (c *Clinic) putHead(tx *store.Tx, patientID string, epoch int, waiting *bool) error {
	p, err := tx.PatientByID(patientID)
	if err != nil {
		return err
	}
	team, err := tx.CareTeam(patientID)
	if err != nil {
		return err
	}
	content, err := tx.RecordContent(patientID)
	if err != nil {
		return err
	}
	h := store.RecordHead{PatientID: patientID, Epoch: epoch, Gen: 1, Directory: directoryHash(p), Team: teamHash(team), Content: content}
	old, err := tx.RecordHead(patientID)
	switch {
	case err == nil:
		h.Gen, h.Waiting = old.Gen+1, old.Waiting
	case !isNotFound(err):
		return err
	}
	if waiting != nil {
		h.Waiting = *waiting
	}
	h.MAC = c.headMAC(h)
	if err := tx.PutRecordHead(h); err != nil {
		return err
	}
	idx, err := c.anchorAt(tx, "record", patientID, h.Gen)
	if err != nil {
		return err
	}
	return c.moveHead(tx, patientID, h.Gen-1, h.Gen, idx)
}

func (c *Clinic) recoveryKeyMAC(pub []byte) []byte {
	return c.stateMAC.MAC(seal.AD("hush recovery public key v1", c.id, string(pub)))
}

// checkIntegrity runs at open (and init): it stamps rows from before the
// integrity MACs existed, once, and verifies the recovery public key. The
// stamping is an audit event; after it, an unstamped row is a failure.
func (c *Clinic) checkIntegrity(ctx context.Context) error {
	// The stamping runs once: when there is no state digest yet and the
	// audit log, read from its hashed records (never its clear columns),
	// holds no earlier stamping or anchor. A writer who deletes the digest
	// or undoes the migration cannot make it run again; a process that
	// stopped between the migration and the stamping (a wrong key file, a
	// crash, another process that got the write lock first) leaves nothing
	// behind that looks like tampering. All of it under the write lock.
	err := c.db.ReadWrite(ctx, func(tx *store.Tx) error {
		upgraded := true
		if _, err := tx.Meta(metaStateDigest); isNotFound(err) {
			stamped := false
			if err := c.audit.ScanFrom(tx, 0, func(ev audit.Event) error {
				if ev.Action == audit.ActIntegrityUpgrade || ev.Action == audit.ActStateAnchor {
					stamped = true
				}
				return nil
			}); err != nil && hush.ErrorCode(err) != hush.EINTERNAL {
				return err
			} else if err != nil {
				stamped = true // a log that does not match its hashes is no first time either
			}
			if stamped {
				c.integrityAlert("state", "")
				c.stateBad.Store(true)
				return nil
			}
			upgraded = false
		} else if err != nil {
			return err
		}
		pub := c.recoveryPub.Bytes()
		mac, err := tx.Meta(metaRecoveryPublicMAC)
		switch {
		case isNotFound(err) && !upgraded:
			// Stamped below, once the log shows this is the first time.
		case err != nil && !isNotFound(err):
			return err
		case err != nil || !c.stateMAC.VerifyMAC(seal.AD("hush recovery public key v1", c.id, string(pub)), mac):
			c.recoveryBad = true
			c.integrityAlert("recovery_key", "")
			return nil
		}
		if upgraded {
			err := c.checkDigest(tx)
			if err == errIntegrity {
				c.stateBad.Store(true)
				return nil
			}
			return err
		}
		// The one-time upgrade.
		if isNotFound(err) {
			if err := tx.PutMeta(metaRecoveryPublicMAC, c.recoveryKeyMAC(pub)); err != nil {
				return err
			}
		}
		// Stamp what is there, after checking what could already be
		// checked (public keys had a MAC of their own).
		users, err := tx.Users()
		if err != nil {
			return err
		}
		for _, r := range users {
			if r.StateMAC != nil {
				continue
			}
			if r.PublicKey != nil {
				if !c.pubMAC.VerifyMAC(seal.AD("hush public key v1", c.id, r.ID, r.Role, string(r.PublicKey)), r.PublicKeyMAC) {
					c.integrityAlert("user", r.ID)
					continue // left unstamped: never used
				}
				r.KeyGen = 1
				r.PublicKeyMAC = c.pubKeyMAC(r.ID, hush.Role(r.Role), 1, r.PublicKey)
				if err := tx.ReplaceUserKeyMAC(r.ID, r.PublicKeyMAC); err != nil {
					return err
				}
			}
			if err := c.stampUser(tx, r.ID); err != nil {
				return err
			}
		}
		heads, err := tx.RecordHeads()
		if err != nil {
			return err
		}
		ids, err := tx.PatientIDs()
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, ok := heads[id]; ok {
				continue
			}
			e, err := tx.CurrentEpoch(id)
			if err != nil {
				return err
			}
			team, err := tx.CareTeam(id)
			if err != nil {
				return err
			}
			waiting := len(team) == 0
			if err := c.putHead(tx, id, e, &waiting); err != nil {
				return err
			}
		}
		if err := c.audit.StampWitnesses(tx); err != nil {
			return err
		}
		if err := c.initDigest(tx); err != nil {
			return err
		}
		ev := audit.Event{Time: c.now(), ActorID: "operator", ActorRole: string(hush.RoleOperator), Action: audit.ActIntegrityUpgrade,
			Purpose: audit.PurposeSecurity, Outcome: audit.OutcomeSuccess}
		_, err = c.audit.AppendTx(tx, ev)
		return err
	})
	if err == nil && !c.recoveryBad && !c.stateBad.Load() {
		c.digestReady.Store(true)
	}
	return err
}

// integrityAlerts holds what failed its integrity check, each raised once
// per process, and alerts raised before the channels were up.
type integrityAlerts struct {
	mu      sync.Mutex
	stale   map[string]bool // "user:<id>", "record:<id>": older than the log's anchor
	seen    map[string]bool
	pending []integrityFailure
}

type integrityFailure struct {
	what, id string
	at       time.Time
}

var integritySummaries = map[string]string{
	"user":         "An account's stored security state (role, status, second factors or key) was changed outside Hush. The account cannot be used until it is reviewed.",
	"record":       "A patient record's stored key state or directory entry was changed or rolled back outside Hush. Nothing is written to the record until it is reviewed.",
	"recovery_key": "The clinic's stored recovery public key was changed outside Hush. The server refuses to start.",
	"state":        "Security state in the data directory (accounts, records, tokens, settings, canaries or care-team requests) was changed or put back from an older copy outside Hush. The server stops writing, and refuses to start, until it is reviewed.",
}

// integrityAlert raises an alert for a row that failed its integrity
// check: an audit event (alert.integrity.<what>), the operator's log and
// the remote channels. It never blocks the caller (which may hold the
// write transaction): delivery runs in its own goroutine, or at the end of
// Open when the channels are not up yet.
func (c *Clinic) integrityAlert(what, id string) {
	c.integrity.mu.Lock()
	if c.integrity.seen == nil {
		c.integrity.seen = map[string]bool{}
	}
	key := what + ":" + id
	if c.integrity.seen[key] {
		c.integrity.mu.Unlock()
		return
	}
	c.integrity.seen[key] = true
	f := integrityFailure{what: what, id: id, at: c.now()}
	if c.trip == nil || c.audit == nil {
		c.integrity.pending = append(c.integrity.pending, f)
		c.integrity.mu.Unlock()
		return
	}
	c.integrity.mu.Unlock()
	go c.deliverIntegrity(context.Background(), f)
}

// flushIntegrity delivers the alerts raised before the channels were up.
func (c *Clinic) flushIntegrity(ctx context.Context) {
	c.integrity.mu.Lock()
	pending := c.integrity.pending
	c.integrity.pending = nil
	c.integrity.mu.Unlock()
	for _, f := range pending {
		c.deliverIntegrity(ctx, f)
	}
}

func (c *Clinic) deliverIntegrity(ctx context.Context, f integrityFailure) {
	kind := "integrity." + f.what
	ev := audit.Event{Time: f.at, ActorID: audit.ActorTripwire, ActorRole: "system", Action: audit.ActAlertPrefix + kind,
		Entity: f.id, Purpose: audit.PurposeSecurity, Outcome: audit.OutcomeSuccess}
	if f.what == "record" {
		ev.Entity, ev.PatientID = "", f.id
	}
	aerr := c.audit.Append(ctx, ev)
	log := slog.Default()
	if c.trip != nil && c.trip.log != nil {
		log = c.trip.log
	}
	log.Error("integrity alert", "kind", kind, "id", f.id, "audited", aerr == nil)
	if c.trip == nil {
		return
	}
	if n := c.trip.notifier.Load(); n != nil {
		b := make([]byte, 8)
		rand.Read(b)
		account := ""
		if f.what == "user" {
			account = f.id
		}
		n.Send(alert.Alert{ID: hex.EncodeToString(b), Kind: kind, Severity: alert.Critical, Account: account,
			Summary: integritySummaries[f.what], At: f.at})
	}
}
