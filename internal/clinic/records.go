package clinic

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// MaxNoteBytes is the largest note text Hush accepts (256 KiB).
const MaxNoteBytes = 256 << 10

// clinician checks that the actor is a clinician on the patient's care team.
func (c *Clinic) clinician(tx *store.Tx, a *hush.Actor, patientID string) error {
	if _, err := tx.PatientByID(patientID); err != nil {
		return err
	}
	if a.Role != hush.RoleClinician {
		return errNoClinical
	}
	ok, err := tx.OnCareTeam(patientID, a.UserID)
	if err != nil {
		return err
	}
	if !ok {
		return hush.Errorf(hush.EFORBIDDEN, "you are not on this patient's care team")
	}
	// The membership must be the one the record's head names: a care-team
	// row put back (or removed) in the file is not believed.
	_, err = c.head(tx, patientID)
	return err
}

// seed opens (or takes from the session cache) the record seed of one epoch
// through the actor's own grant, and returns a copy the caller wipes. This
// is where access is enforced by the cryptography: without a grant sealed to
// the actor's key there is no seed.
func (c *Clinic) seed(tx *store.Tx, a *hush.Actor, patientID string, epoch int) (*seal.RecordSeed, error) {
	if s := a.Session.Get(patientID, epoch); s != nil {
		return s, nil
	}
	if a.Key == nil {
		return nil, errNoClinical
	}
	principal := userPrincipal(a.UserID)
	g, err := tx.Grant(patientID, epoch, principal)
	if isNotFound(err) {
		return nil, hush.Errorf(hush.EFORBIDDEN, "you hold no key to this record")
	}
	if err != nil {
		return nil, err
	}
	s, err := a.Key.OpenGrant(seal.GrantContext{Clinic: c.id, Record: patientID, Epoch: epoch, Principal: principal}, g.Sealed)
	if err != nil {
		return nil, hush.Wrap(hush.EFORBIDDEN, "you hold no key to this record", err)
	}
	if err := c.checkSeed(tx, patientID, epoch, s); err != nil {
		s.Wipe()
		return nil, err
	}
	a.Session.Put(patientID, epoch, s)
	return s.Clone(), nil
}

// checkSeed verifies that a seed belongs to the epoch the clinic created: the
// epoch's public key carries a KEK-keyed MAC, and the seed must derive it.
func (c *Clinic) checkSeed(tx *store.Tx, patientID string, epoch int, s *seal.RecordSeed) error {
	pub, mac, err := tx.Epoch(patientID, epoch)
	if err != nil {
		return err
	}
	if !c.pubMAC.VerifyMAC(seal.AD("hush record epoch v1", c.id, patientID, strconv.Itoa(epoch), string(pub)), mac) {
		return hush.Errorf(hush.EINTERNAL, "a record epoch failed its integrity check")
	}
	derived, err := s.PublicKey()
	if err != nil {
		return internal("derive record key", err)
	}
	if string(derived.Bytes()) != string(pub) {
		return hush.Errorf(hush.EINTERNAL, "a grant holds a seed that does not match its record epoch")
	}
	return nil
}

type noteBody struct {
	Title string `json:"title,omitempty"`
	Text  string `json:"text"`
}

func noteAD(n store.NoteRow) []byte {
	return seal.AD("hush note v1", n.PatientID, n.ID, strconv.Itoa(n.Version), strconv.Itoa(n.Epoch), "note", n.Kind, n.Status, n.AuthorID,
		strconv.FormatInt(n.CreatedAt, 10))
}

// NoteInput is what a clinician writes.
type NoteInput struct {
	Kind   hush.NoteKind
	Status hush.NoteStatus
	Title  string
	Text   string
}

func (in *NoteInput) validate() error {
	if _, err := hush.ParseNoteKind(string(in.Kind)); err != nil {
		return err
	}
	if len(in.Text) > MaxNoteBytes {
		return hush.Errorf(hush.ETOOLARGE, "note text is over %d KiB", MaxNoteBytes>>10)
	}
	if !utf8.ValidString(in.Text) || !utf8.ValidString(in.Title) {
		return hush.Errorf(hush.EINVALID, "note text must be UTF-8")
	}
	if utf8.RuneCountInString(in.Title) > 200 {
		return hush.Errorf(hush.EINVALID, "note title must be at most 200 characters")
	}
	return nil
}

// CreateNote writes a note as a draft (preliminary) or signs it at once
// (final).
func (c *Clinic) CreateNote(ctx context.Context, patientID string, in NoteInput) (hush.Note, error) {
	a, err := actor(ctx)
	if err != nil {
		return hush.Note{}, err
	}
	if err := in.validate(); err != nil {
		return hush.Note{}, err
	}
	if in.Status != hush.StatusDraft && in.Status != hush.StatusSigned {
		return hush.Note{}, hush.Errorf(hush.EINVALID, "a new note is preliminary (draft) or final (signed)")
	}
	var n hush.Note
	err = c.db.ReadWrite(ctx, func(tx *store.Tx) error {
		if err := c.clinician(tx, a, patientID); err != nil {
			return err
		}
		n, err = c.writeNote(tx, a, store.NoteRow{ID: newID(), Version: 1, PatientID: patientID}, in)
		if err != nil {
			return err
		}
		action := audit.ActNoteCreate
		if n.Status == hush.StatusSigned {
			action = audit.ActNoteSign
		}
		_, err = c.audit.AppendTx(tx, c.event(ctx, action, patientID, noteEntity(n.ID, n.Version), nil))
		return err
	})
	return n, c.logDenied(ctx, err, c.event(ctx, audit.ActNoteCreate, patientID, "", err))
}

func noteEntity(id string, version int) string {
	if version == 0 {
		return "DocumentReference/" + id
	}
	return "DocumentReference/" + id + "/_history/" + strconv.Itoa(version)
}

func (c *Clinic) writeNote(tx *store.Tx, a *hush.Actor, row store.NoteRow, in NoteInput) (hush.Note, error) {
	epoch, err := c.currentEpoch(tx, row.PatientID)
	if err != nil {
		return hush.Note{}, err
	}
	s, err := c.seed(tx, a, row.PatientID, epoch)
	if err != nil {
		return hush.Note{}, err
	}
	defer s.Wipe()
	row.Epoch, row.AuthorID, row.Kind, row.Status = epoch, a.UserID, string(in.Kind), string(in.Status)
	row.CreatedAt = c.millis()
	body, _ := json.Marshal(noteBody{Title: in.Title, Text: in.Text})
	k := s.ContentKey()
	row.Body = k.Seal(body, noteAD(row))
	k.Wipe()
	clear(body)
	if err := tx.InsertNote(row); err != nil {
		return hush.Note{}, err
	}
	if err := c.contentAdded(tx, row.PatientID); err != nil {
		return hush.Note{}, err
	}
	return hush.Note{ID: row.ID, Version: row.Version, PatientID: row.PatientID, AuthorID: row.AuthorID, Kind: in.Kind,
		Status: in.Status, Title: in.Title, Text: in.Text, CreatedAt: time.UnixMilli(row.CreatedAt).UTC()}, nil
}

func (c *Clinic) openNote(tx *store.Tx, a *hush.Actor, row store.NoteRow) (hush.Note, error) {
	s, err := c.seed(tx, a, row.PatientID, row.Epoch)
	if err != nil {
		return hush.Note{}, err
	}
	k := s.ContentKey()
	s.Wipe()
	defer k.Wipe()
	b, err := k.Open(row.Body, noteAD(row))
	if err != nil {
		return hush.Note{}, hush.Wrap(hush.EINTERNAL, "a note does not open: it was altered or moved", err)
	}
	var body noteBody
	if err := json.Unmarshal(b, &body); err != nil {
		return hush.Note{}, internal("decode note", err)
	}
	clear(b)
	return hush.Note{ID: row.ID, Version: row.Version, PatientID: row.PatientID, AuthorID: row.AuthorID, Kind: hush.NoteKind(row.Kind),
		Status: hush.NoteStatus(row.Status), Title: body.Title, Text: body.Text, CreatedAt: time.UnixMilli(row.CreatedAt).UTC()}, nil
}

// Note returns a note: its newest version when version is 0.
func (c *Clinic) Note(ctx context.Context, id string, version int) (hush.Note, error) {
	a, err := actor(ctx)
	if err != nil {
		return hush.Note{}, err
	}
	var n hush.Note
	var pid string
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		row, err := tx.Note(id, version)
		if err != nil {
			return err
		}
		pid = row.PatientID
		if err := c.clinician(tx, a, row.PatientID); err != nil {
			return err
		}
		n, err = c.openNote(tx, a, row)
		return err
	})
	if err == nil {
		version = n.Version
	}
	if err := c.logRead(ctx, err, c.event(ctx, audit.ActNoteRead, pid, noteEntity(id, version), err)); err != nil {
		return hush.Note{}, err
	}
	return n, nil
}

// Chart returns the newest version of every note of a patient, newest first.
func (c *Clinic) Chart(ctx context.Context, patientID string) ([]hush.Note, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var out []hush.Note
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		if err := c.clinician(tx, a, patientID); err != nil {
			return err
		}
		out, err = c.chartNotes(tx, a, patientID)
		return err
	})
	if err := c.logRead(ctx, err, c.event(ctx, audit.ActChartRead, patientID, "", err)); err != nil {
		return nil, err
	}
	return out, nil
}

// chartNotes opens the newest version of every note of a patient.
func (c *Clinic) chartNotes(tx *store.Tx, a *hush.Actor, patientID string) ([]hush.Note, error) {
	rows, err := tx.NotesOf(patientID)
	if err != nil {
		return nil, err
	}
	out := make([]hush.Note, 0, len(rows))
	for _, r := range rows {
		n, err := c.openNote(tx, a, r)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// UpdateNote adds a version to a note. A draft may be saved again or signed
// by its author. A signed note is locked: it changes only by an amendment
// (status amended), which adds a version and leaves the signed one readable.
// ifVersion, when not 0, must be the newest version (optimistic locking).
func (c *Clinic) UpdateNote(ctx context.Context, id string, ifVersion int, in NoteInput) (hush.Note, error) {
	a, err := actor(ctx)
	if err != nil {
		return hush.Note{}, err
	}
	if err := in.validate(); err != nil {
		return hush.Note{}, err
	}
	var n hush.Note
	var pid string
	err = c.db.ReadWrite(ctx, func(tx *store.Tx) error {
		cur, err := tx.Note(id, 0)
		if err != nil {
			return err
		}
		pid = cur.PatientID
		if err := c.clinician(tx, a, cur.PatientID); err != nil {
			return err
		}
		if ifVersion != 0 && ifVersion != cur.Version {
			return hush.Errorf(hush.ECONFLICT, "the note changed since you read it (now version %d)", cur.Version)
		}
		if string(in.Kind) != cur.Kind {
			return hush.Errorf(hush.EINVALID, "a note's type cannot change")
		}
		if hush.NoteStatus(cur.Status).Locked() {
			if in.Status != hush.StatusAmended {
				return hush.Errorf(hush.ECONFLICT, "a signed note cannot be edited; amend it (docStatus amended) to add a new version")
			}
		} else {
			if cur.AuthorID != a.UserID {
				return hush.Errorf(hush.EFORBIDDEN, "only the author can edit or sign a draft")
			}
			if in.Status != hush.StatusDraft && in.Status != hush.StatusSigned {
				return hush.Errorf(hush.EINVALID, "a draft is saved as preliminary or signed as final")
			}
		}
		n, err = c.writeNote(tx, a, store.NoteRow{ID: cur.ID, Version: cur.Version + 1, PatientID: cur.PatientID}, in)
		if err != nil {
			return err
		}
		action := map[hush.NoteStatus]string{hush.StatusDraft: audit.ActNoteSave, hush.StatusSigned: audit.ActNoteSign, hush.StatusAmended: audit.ActNoteAmend}[n.Status]
		_, err = c.audit.AppendTx(tx, c.event(ctx, action, pid, noteEntity(n.ID, n.Version), nil))
		return err
	})
	failed := map[hush.NoteStatus]string{hush.StatusSigned: audit.ActNoteSign, hush.StatusAmended: audit.ActNoteAmend}[in.Status]
	if failed == "" {
		failed = audit.ActNoteSave
	}
	return n, c.logDenied(ctx, err, c.event(ctx, failed, pid, noteEntity(id, 0), err))
}

// NoteHistory returns every version of a note, oldest first. It is one
// read: one transaction, and one request's events (a note.read per
// version) for the audit log and the tripwires.
func (c *Clinic) NoteHistory(ctx context.Context, id string) ([]hush.Note, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var out []hush.Note
	var pid string
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		latest, err := tx.Note(id, 0)
		if err != nil {
			return err
		}
		pid = latest.PatientID
		if err := c.clinician(tx, a, pid); err != nil {
			return err
		}
		for v := 1; v <= latest.Version; v++ {
			row := latest
			if v < latest.Version {
				if row, err = tx.Note(id, v); err != nil {
					return err
				}
			}
			n, err := c.openNote(tx, a, row)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return nil
	})
	evs := []audit.Event{c.event(ctx, audit.ActNoteRead, pid, noteEntity(id, 0), err)}
	if err == nil {
		evs = evs[:0]
		for _, n := range out {
			evs = append(evs, c.event(ctx, audit.ActNoteRead, pid, noteEntity(id, n.Version), nil))
		}
	}
	if err := c.logRead(ctx, err, evs...); err != nil {
		return nil, err
	}
	return out, nil
}

// CareTeam returns the ids of the clinicians on a patient's care team.
func (c *Clinic) CareTeam(ctx context.Context, patientID string) ([]string, error) {
	if _, err := staff(ctx); err != nil {
		return nil, c.logRead(ctx, err, c.event(ctx, audit.ActCareTeamRead, patientID, "", err))
	}
	var ids []string
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		if _, err := tx.PatientByID(patientID); err != nil {
			return err
		}
		var err error
		ids, err = tx.CareTeam(patientID)
		return err
	})
	if err := c.logRead(ctx, err, c.event(ctx, audit.ActCareTeamRead, patientID, "", err)); err != nil {
		return nil, err
	}
	return ids, nil
}

// SetCareTeam makes a patient's care team exactly want. Only a clinician
// who holds the record can change it, because a grant is made by opening the
// record's seeds and sealing them to the newcomer; an admin cannot.
// Removing a clinician starts a new key epoch granted only to those who stay,
// and destroys the removed clinician's grants on this record. What they
// could already open is exposed to them; cryptography cannot take back a key
// someone has seen.
func (c *Clinic) SetCareTeam(ctx context.Context, patientID string, want []string) ([]string, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	wantSet := map[string]bool{}
	for _, id := range want {
		wantSet[id] = true
	}
	if len(wantSet) == 0 {
		return nil, hush.Errorf(hush.EINVALID, "a care team needs at least one clinician")
	}
	if len(wantSet) > maxCareTeam {
		return nil, errTeamFull
	}
	c.dir.refresh(ctx) // a canary made by another process is marked as its entry loads
	if c.IsCanary(patientID) {
		// Naming a canary's clinicians is a request for its record: the trip.
		err := hush.Errorf(hush.ENOTFOUND, "patient not found")
		return nil, c.logRead(ctx, err, c.event(ctx, audit.ActPatientRead, patientID, "", err))
	}
	changed := false
	var result []string
	first := false
	err = c.writeTx(ctx, func(tx *store.Tx) error {
		if team, err := tx.CareTeam(patientID); err == nil && len(team) == 0 {
			first = true
			if err := c.firstCareTeam(ctx, tx, a, patientID, wantSet); err != nil {
				return err
			}
			result, err = tx.CareTeam(patientID)
			return err
		}
		if err := c.clinician(tx, a, patientID); err != nil {
			return err
		}
		cur, err := tx.CareTeam(patientID)
		if err != nil {
			return err
		}
		curSet := map[string]bool{}
		for _, id := range cur {
			curSet[id] = true
		}
		var add, remove []string
		for id := range wantSet {
			if !curSet[id] {
				add = append(add, id)
			}
		}
		for _, id := range cur {
			if !wantSet[id] {
				remove = append(remove, id)
			}
		}
		sort.Strings(add)
		now := c.millis()
		if err := c.addToCareTeam(ctx, tx, a, patientID, add, now); err != nil {
			return err
		}
		if len(remove) > 0 {
			stay := make([]string, 0, len(wantSet))
			for id := range wantSet {
				stay = append(stay, id)
			}
			if err := c.rekey(tx, patientID, stay, now); err != nil {
				return err
			}
			for _, id := range remove {
				if _, err := c.audit.AppendTx(tx, c.event(ctx, audit.ActRevoke, patientID, id, nil)); err != nil {
					return err
				}
				if err := tx.DeleteGrants(patientID, userPrincipal(id)); err != nil {
					return err
				}
				if err := tx.RemoveCareTeam(patientID, id, a.UserID, now); err != nil {
					return err
				}
			}
			if err := c.teamChanged(tx, patientID); err != nil {
				return err
			}
		}
		changed = len(add)+len(remove) > 0
		result, err = tx.CareTeam(patientID)
		return err
	})
	if err != nil {
		return nil, c.logDenied(ctx, err, c.event(ctx, audit.ActGrant, patientID, "", err))
	}
	if changed || first {
		c.forgetSeeds(patientID)
	}
	return result, nil
}

// firstCareTeam names the first clinicians of a record registered without
// one (a waiting-list patient). No one holds such a record but the recovery
// key, so nobody can open its seed to grant it; but while it holds no
// clinical content there is nothing under that seed to share. The record
// starts a new epoch whose fresh seed is granted to the clinicians and the
// recovery key, and they join the team. Reception, admins and clinicians
// may do this; once the record has content, only a recovery grant (two
// shares) adds someone to a record no one holds.
func (c *Clinic) firstCareTeam(ctx context.Context, tx *store.Tx, a *hush.Actor, patientID string, want map[string]bool) error {
	if a.Role == hush.RoleAuditor || a.Role == hush.RolePatient {
		return hush.Errorf(hush.EFORBIDDEN, "only reception, admins and clinicians name a patient's clinicians")
	}
	h, err := c.head(tx, patientID)
	if err != nil {
		return err
	}
	if !h.Waiting {
		// It had a care team once: a team that is empty now was emptied
		// (deactivations, or the file changed); recovery grants it.
		return hush.Errorf(hush.ECONFLICT, "no clinician holds this record: its recovery officers grant it with hush recover grant")
	}
	notes, err := tx.NotesOf(patientID)
	if err != nil {
		return err
	}
	content := len(notes)
	for _, kind := range []string{"measure", "diagnosis"} {
		items, err := tx.Items(patientID, kind)
		if err != nil {
			return err
		}
		content += len(items)
	}
	if content > 0 {
		return hush.Errorf(hush.ECONFLICT, "this record has clinical content and no clinician holds it: its recovery officers grant it with hush recover grant")
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	now := c.millis()
	if err := c.rekey(tx, patientID, ids, now); err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.AddCareTeam(patientID, id, a.UserID, now); err != nil {
			return err
		}
		if _, err := c.audit.AppendTx(tx, c.event(ctx, audit.ActGrant, patientID, id, nil)); err != nil {
			return err
		}
	}
	return c.teamChanged(tx, patientID)
}

// maxCareTeam is the most clinicians a care team holds.
const maxCareTeam = 20

var errTeamFull = hush.Errorf(hush.EINVALID, "at most %d clinicians on a care team", maxCareTeam)

// addToCareTeam grants every epoch of a record to each clinician in add,
// sealing the seeds that a's key opens, puts them on the care team and
// audits each grant, all in tx.
func (c *Clinic) addToCareTeam(ctx context.Context, tx *store.Tx, a *hush.Actor, patientID string, add []string, now int64) error {
	if len(add) == 0 {
		return nil
	}
	if err := c.grantAll(tx, patientID, add, func(epoch int) (*seal.RecordSeed, error) { return c.seed(tx, a, patientID, epoch) }, a.UserID, now); err != nil {
		return err
	}
	for _, id := range add {
		if _, err := c.audit.AppendTx(tx, c.event(ctx, audit.ActGrant, patientID, id, nil)); err != nil {
			return err
		}
	}
	return nil
}

// rekey starts a new key epoch of a record, granted to stay (clinicians) and
// the recovery key only. New items are sealed under it; the old epochs stay
// readable to those who still hold their grants.
func (c *Clinic) rekey(tx *store.Tx, patientID string, stay []string, now int64) error {
	epoch, err := c.currentEpoch(tx, patientID)
	if err != nil {
		return err
	}
	sort.Strings(stay)
	seed := seal.NewRecordSeed()
	defer seed.Wipe()
	return c.newEpoch(tx, patientID, epoch+1, seed, stay, now)
}

// grantAll seals every epoch of a record to each user in add and puts them
// on the care team. open yields the seed of an epoch.
func (c *Clinic) grantAll(tx *store.Tx, patientID string, add []string, open func(epoch int) (*seal.RecordSeed, error), by string, now int64) error {
	last, err := c.currentEpoch(tx, patientID)
	if err != nil {
		return err
	}
	for _, id := range add {
		pub, err := c.userPublicKey(tx, id)
		if err != nil {
			return err
		}
		for e := 1; e <= last; e++ {
			s, err := open(e)
			if err != nil {
				return err
			}
			_, err = tx.Grant(patientID, e, userPrincipal(id))
			if err == nil {
				s.Wipe()
				continue
			}
			err = c.grant(tx, patientID, e, s, userPrincipal(id), pub, now)
			s.Wipe()
			if err != nil {
				return err
			}
		}
		if err := tx.AddCareTeam(patientID, id, by, now); err != nil {
			return err
		}
	}
	return c.teamChanged(tx, patientID)
}

// RecoverGrant uses the rebuilt recovery key to grant every epoch of a
// patient's record to a clinician and put them on the care team: for when
// the treating clinician left or lost their password.
func (c *Clinic) RecoverGrant(ctx context.Context, recovery *seal.PrivateKey, patientID, email string) error {
	var u hush.User
	err := c.recoverGrant(ctx, recovery, patientID, email, &u)
	ev := c.event(ctx, audit.ActRecoveryGrant, patientID, u.ID, err)
	ev.ActorID, ev.Purpose = RecoveryPrincipal, audit.PurposeRecovery
	if err != nil {
		return c.logDenied(ctx, err, ev)
	}
	c.forgetSeeds(patientID)
	return nil
}

func (c *Clinic) recoverGrant(ctx context.Context, recovery *seal.PrivateKey, patientID, email string, u *hush.User) error {
	if !recovery.Public().Equal(c.recoveryPub) {
		return hush.Errorf(hush.EFORBIDDEN, "this is not the clinic's recovery key")
	}
	var err error
	if *u, err = c.UserByEmail(ctx, email); err != nil {
		return err
	}
	return c.writeTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.PatientByID(patientID); err != nil {
			return err
		}
		if ok, err := tx.OnCareTeam(patientID, u.ID); err != nil || ok {
			if ok {
				return hush.Errorf(hush.ECONFLICT, "the clinician is already on this patient's care team")
			}
			return err
		}
		open := func(epoch int) (*seal.RecordSeed, error) {
			g, err := tx.Grant(patientID, epoch, RecoveryPrincipal)
			if err != nil {
				return nil, err
			}
			s, err := recovery.OpenGrant(seal.GrantContext{Clinic: c.id, Record: patientID, Epoch: epoch, Principal: RecoveryPrincipal}, g.Sealed)
			if err != nil {
				return nil, hush.Wrap(hush.EINTERNAL, "a recovery grant does not open", err)
			}
			if err := c.checkSeed(tx, patientID, epoch, s); err != nil {
				s.Wipe()
				return nil, err
			}
			return s, nil
		}
		if err := c.grantAll(tx, patientID, []string{u.ID}, open, "recovery", c.millis()); err != nil {
			return err
		}
		ev := c.event(ctx, audit.ActRecoveryGrant, patientID, u.ID, nil)
		ev.ActorID, ev.Purpose = RecoveryPrincipal, audit.PurposeRecovery
		_, err := c.audit.AppendTx(tx, ev)
		return err
	})
}
