package clinic

import (
	"context"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// Process notes are a therapist's private notes: sealed to their author and
// the recovery key only, never to the care team, and not part of the
// record the patient receives. Their seed is per (patient, author).

// ProcessNote is a private note.
type ProcessNote struct {
	ID        string
	PatientID string
	CreatedAt time.Time
	Text      string
}

func privateRecord(patientID, authorID string) string { return "private:" + patientID + ":" + authorID }

func (c *Clinic) privateMAC(r store.PrivateRecordRow) []byte {
	return c.pubMAC.MAC(seal.AD("hush private record v1", c.id, r.PatientID, r.AuthorID, string(r.PublicKey)))
}

func processAD(r store.ProcessNoteRow) []byte {
	return seal.AD("hush process note v1", r.PatientID, r.AuthorID, r.ID, strconv.FormatInt(r.CreatedAt, 10))
}

// privateSeed opens (creating on first use) the author's private seed for
// a patient. Only a clinician on the care team writes process notes; the
// author alone reads them back.
func (c *Clinic) privateSeed(tx *store.Tx, a *hush.Actor, patientID string, create bool) (*seal.RecordSeed, error) {
	if a.Key == nil || a.Role != hush.RoleClinician {
		return nil, errNoClinical
	}
	rec := privateRecord(patientID, a.UserID)
	r, err := tx.PrivateRecord(patientID, a.UserID)
	if isNotFound(err) && create {
		seed := seal.NewRecordSeed()
		pub, err := seed.PublicKey()
		if err != nil {
			return nil, internal("derive key", err)
		}
		// Seal to the stored, authenticated public key, not to whatever key
		// this session holds.
		self, err := c.userPublicKey(tx, a.UserID)
		if err != nil {
			return nil, err
		}
		r = store.PrivateRecordRow{PatientID: patientID, AuthorID: a.UserID, PublicKey: pub.Bytes(), CreatedAt: c.millis()}
		r.MAC = c.privateMAC(r)
		if r.AuthorGrant, err = seal.SealGrant(self, seal.GrantContext{Clinic: c.id, Record: rec, Epoch: 1, Principal: userPrincipal(a.UserID)}, seed); err != nil {
			return nil, internal("seal grant", err)
		}
		if r.RecoveryGrant, err = seal.SealGrant(c.recoveryPub, seal.GrantContext{Clinic: c.id, Record: rec, Epoch: 1, Principal: RecoveryPrincipal}, seed); err != nil {
			return nil, internal("seal grant", err)
		}
		if err := tx.InsertPrivateRecord(r); err != nil {
			return nil, err
		}
		return seed, nil
	}
	if err != nil {
		return nil, err
	}
	if !c.pubMAC.VerifyMAC(seal.AD("hush private record v1", c.id, r.PatientID, r.AuthorID, string(r.PublicKey)), r.MAC) {
		return nil, hush.Errorf(hush.EINTERNAL, "a private record failed its integrity check")
	}
	seed, err := a.Key.OpenGrant(seal.GrantContext{Clinic: c.id, Record: rec, Epoch: 1, Principal: userPrincipal(a.UserID)}, r.AuthorGrant)
	if err != nil {
		return nil, hush.Wrap(hush.EFORBIDDEN, "you hold no key to these process notes", err)
	}
	pub, err := seed.PublicKey()
	if err != nil || string(pub.Bytes()) != string(r.PublicKey) {
		seed.Wipe()
		return nil, hush.Errorf(hush.EINTERNAL, "a private record's seed does not match its key")
	}
	return seed, nil
}

// AddProcessNote writes a private process note.
func (c *Clinic) AddProcessNote(ctx context.Context, patientID, text string) (ProcessNote, error) {
	a, err := actor(ctx)
	if err != nil {
		return ProcessNote{}, err
	}
	if len(text) == 0 || len(text) > MaxNoteBytes || !utf8.ValidString(text) {
		return ProcessNote{}, hush.Errorf(hush.EINVALID, "a process note is 1 byte to %d KiB of text", MaxNoteBytes>>10)
	}
	var n ProcessNote
	err = c.db.ReadWrite(ctx, func(tx *store.Tx) error {
		if err := c.clinician(tx, a, patientID); err != nil {
			return err
		}
		seed, err := c.privateSeed(tx, a, patientID, true)
		if err != nil {
			return err
		}
		defer seed.Wipe()
		r := store.ProcessNoteRow{ID: newID(), PatientID: patientID, AuthorID: a.UserID, CreatedAt: c.millis()}
		k := seed.ContentKey()
		r.Body = k.Seal([]byte(text), processAD(r))
		k.Wipe()
		if err := tx.InsertProcessNote(r); err != nil {
			return err
		}
		n = ProcessNote{ID: r.ID, PatientID: patientID, CreatedAt: time.UnixMilli(r.CreatedAt).UTC(), Text: text}
		_, err = c.audit.AppendTx(tx, c.event(ctx, audit.ActProcessNoteAdd, patientID, "processnote/"+r.ID, nil))
		return err
	})
	return n, c.logDenied(ctx, err, c.event(ctx, audit.ActProcessNoteAdd, patientID, "", err))
}

// ProcessNotes returns the actor's own process notes on a patient, newest
// first. Nobody else's are ever returned.
func (c *Clinic) ProcessNotes(ctx context.Context, patientID string) ([]ProcessNote, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var out []ProcessNote
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		if _, err := tx.PatientByID(patientID); err != nil {
			return err
		}
		rows, err := tx.ProcessNotes(patientID, a.UserID)
		if err != nil || len(rows) == 0 {
			return err
		}
		seed, err := c.privateSeed(tx, a, patientID, false)
		if err != nil {
			return err
		}
		defer seed.Wipe()
		k := seed.ContentKey()
		defer k.Wipe()
		for _, r := range rows {
			b, err := k.Open(r.Body, processAD(r))
			if err != nil {
				return hush.Wrap(hush.EINTERNAL, "a process note does not open: it was altered or moved", err)
			}
			out = append(out, ProcessNote{ID: r.ID, PatientID: patientID, CreatedAt: time.UnixMilli(r.CreatedAt).UTC(), Text: string(b)})
			clear(b)
		}
		return nil
	})
	if err := c.logRead(ctx, err, c.event(ctx, audit.ActProcessNoteRead, patientID, "", err)); err != nil {
		return nil, err
	}
	return out, nil
}
