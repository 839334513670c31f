package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/hushepr/hush/internal/hush"
)

// Rows hold sealed bytes exactly as stored; the clinic package seals and
// opens them. Times are unix milliseconds.

// UserRow is a users row.
type UserRow struct {
	ID            string
	Role          string
	PatientID     string // for patient accounts: their own record
	Active        bool
	EmailIndex    []byte
	Profile       []byte
	PublicKey     []byte
	PublicKeyMAC  []byte
	PwSalt        []byte
	PwVerifier    []byte
	PwKey         []byte
	CreatedAt     int64
	DeactivatedAt sql.NullInt64
	FrozenAt      sql.NullInt64 // a tripwire froze the account; an admin unfreezes it
	MustChange    bool          // the key pair is replaced at the next web sign-in
	KeyGen        int64         // the generation of the user's key pair (1, 2, ...)
	StateGen      int64         // how many times the security state changed
	StateMAC      []byte        // authenticates the security state (nil: not yet stamped)
	// Read-only, computed from other tables: whether TOTP is enrolled.
	HasTOTP bool
	Factors []byte // the factors' hash stamped with the state (users.factors)
	// FactorMaterial is the second factors' stored material as it is now
	// (read-only, from user_mfa, recovery_codes and security_keys).
	FactorMaterial string
}

// TokenRow is a tokens row.
type TokenRow struct {
	ID        string
	UserID    string
	Verifier  []byte
	SealedKey []byte // empty once erased (revoked or expired)
	// KeyWrapped: SealedKey is wrapped under the KEK-derived token key wrap
	// (every row after the clinic's first Open with migration 0013).
	KeyWrapped bool
	CreatedAt  int64
	ExpiresAt  sql.NullInt64
	RevokedAt  sql.NullInt64
}

// PatientRow is a patients row. Seq is SQLite's rowid, used to load new rows
// into the in-memory directory.
type PatientRow struct {
	Seq       int64
	ID        string
	HetuIndex []byte
	Directory []byte
	CreatedAt int64
	CreatedBy string
}

// GrantRow is a grants row.
type GrantRow struct {
	PatientID string
	Epoch     int
	Principal string
	Sealed    []byte
	CreatedAt int64
}

// NoteRow is one version of a note.
type NoteRow struct {
	ID        string
	Version   int
	PatientID string
	Epoch     int
	AuthorID  string
	Kind      string
	Status    string
	CreatedAt int64
	Body      []byte
}

func notFound(what string) error { return hush.Errorf(hush.ENOTFOUND, "%s not found", what) }

func conflict(msg string) error { return hush.Errorf(hush.ECONFLICT, "%s", msg) }

func one(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(what)
	}
	return err
}

type scanner interface{ Scan(...any) error }

// queryAll runs q and scans every row with scan.
func queryAll[T any](t *Tx, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := t.tx.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (t *Tx) exec(q string, args ...any) error {
	_, err := t.tx.ExecContext(context.Background(), q, args...)
	return err
}

// PutMeta stores a clinic-wide value; it refuses to overwrite.
func (t *Tx) PutMeta(key string, value []byte) error {
	return t.exec(`INSERT INTO meta (key, value) VALUES (?, ?)`, key, value)
}

// SetMeta stores or replaces a clinic-wide value (settings).
func (t *Tx) SetMeta(key string, value []byte) error {
	return t.exec(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
}

// FreezeUser marks an active account frozen. ENOTFOUND if it is not an
// active, unfrozen account.
func (t *Tx) FreezeUser(id string, at int64) error {
	return t.execOne("active unfrozen user", `UPDATE users SET frozen_at = ? WHERE id = ? AND active = 1 AND frozen_at IS NULL`, at, id)
}

// UnfreezeUser lifts a freeze. ENOTFOUND if the account is not frozen.
func (t *Tx) UnfreezeUser(id string) error {
	return t.execOne("frozen user", `UPDATE users SET frozen_at = NULL WHERE id = ? AND frozen_at IS NOT NULL`, id)
}

// Meta returns a clinic-wide value.
func (t *Tx) Meta(key string) ([]byte, error) {
	var v []byte
	err := t.tx.QueryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	return v, one(err, "clinic setting")
}

const userCols = `id, role, coalesce(patient_id, ''), active, email_index, profile, public_key, public_key_mac, pw_salt, pw_verifier, pw_key, created_at, deactivated_at, frozen_at,
	must_change, key_gen, state_gen, state_mac,
	EXISTS (SELECT 1 FROM user_mfa m WHERE m.user_id = users.id),
	factors,
	coalesce((SELECT hex(totp_sealed) || ':' || last_step FROM user_mfa m WHERE m.user_id = users.id), '') || '|' ||
	coalesce((SELECT group_concat(hex(code_mac) || ':' || coalesce(used_at, '-'), ',') FROM recovery_codes c WHERE c.user_id = users.id), '') || '|' ||
	coalesce((SELECT group_concat(hex(id) || ':' || hex(sealed), ',') FROM security_keys k WHERE k.user_id = users.id), '')`

func scanUser(s scanner) (UserRow, error) {
	var u UserRow
	err := s.Scan(&u.ID, &u.Role, &u.PatientID, &u.Active, &u.EmailIndex, &u.Profile, &u.PublicKey, &u.PublicKeyMAC, &u.PwSalt, &u.PwVerifier, &u.PwKey, &u.CreatedAt, &u.DeactivatedAt, &u.FrozenAt,
		&u.MustChange, &u.KeyGen, &u.StateGen, &u.StateMAC, &u.HasTOTP, &u.Factors, &u.FactorMaterial)
	return u, err
}

// SetUserState stores a user's security-state generation, the hash of
// its second factors and the MAC over both.
func (t *Tx) SetUserState(id string, gen int64, factors, mac []byte) error {
	return t.execOne("user", `UPDATE users SET state_gen = ?, factors = ?, state_mac = ? WHERE id = ?`, gen, factors, mac, id)
}

// InsertUser adds a user. ECONFLICT if the email is taken.
func (t *Tx) InsertUser(u UserRow) error {
	if u.KeyGen == 0 {
		u.KeyGen = 1
	}
	return t.exec(`INSERT INTO users (id, role, patient_id, active, email_index, profile, public_key, public_key_mac, pw_salt, pw_verifier, pw_key, created_at, deactivated_at, key_gen) VALUES (?,?,nullif(?, ''),?,?,?,?,?,?,?,?,?,?,?)`,
		u.ID, u.Role, u.PatientID, u.Active, u.EmailIndex, u.Profile, u.PublicKey, u.PublicKeyMAC, u.PwSalt, u.PwVerifier, u.PwKey, u.CreatedAt, u.DeactivatedAt, u.KeyGen)
}

// UserByID returns a user. ENOTFOUND if none.
func (t *Tx) UserByID(id string) (UserRow, error) {
	u, err := scanUser(t.tx.QueryRow(`SELECT `+userCols+` FROM users WHERE id = ?`, id))
	return u, one(err, "user")
}

// UserByEmailIndex returns the user with that blind-indexed email.
func (t *Tx) UserByEmailIndex(idx []byte) (UserRow, error) {
	u, err := scanUser(t.tx.QueryRow(`SELECT `+userCols+` FROM users WHERE email_index = ?`, idx))
	return u, one(err, "user")
}

// Users returns every user.
func (t *Tx) Users() ([]UserRow, error) {
	return queryAll(t, scanUser, `SELECT `+userCols+` FROM users ORDER BY created_at, id`)
}

// DeactivateUser marks a user inactive and destroys their key material:
// public key, password verifier and sealed private key.
func (t *Tx) DeactivateUser(id string, at int64) error {
	res, err := t.tx.Exec(`UPDATE users SET active = 0, deactivated_at = ?, public_key = NULL, public_key_mac = NULL,
		pw_salt = NULL, pw_verifier = NULL, pw_key = NULL WHERE id = ? AND active = 1`, at, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return hush.Errorf(hush.ENOTFOUND, "active user not found")
	}
	return nil
}

// InsertToken adds an API token.
func (t *Tx) InsertToken(r TokenRow) error {
	return t.exec(`INSERT INTO tokens (id, user_id, verifier, sealed_key, key_wrapped, created_at, expires_at, revoked_at) VALUES (?,?,?,?,?,?,?,?)`,
		r.ID, r.UserID, r.Verifier, r.SealedKey, r.KeyWrapped, r.CreatedAt, r.ExpiresAt, r.RevokedAt)
}

// TokenByID returns a token.
func (t *Tx) TokenByID(id string) (TokenRow, error) {
	var r TokenRow
	err := t.tx.QueryRow(`SELECT id, user_id, verifier, sealed_key, key_wrapped, created_at, expires_at, revoked_at FROM tokens WHERE id = ?`, id).
		Scan(&r.ID, &r.UserID, &r.Verifier, &r.SealedKey, &r.KeyWrapped, &r.CreatedAt, &r.ExpiresAt, &r.RevokedAt)
	return r, one(err, "token")
}

// TokensOf returns a user's tokens.
func (t *Tx) TokensOf(userID string) ([]TokenRow, error) {
	return queryAll(t, func(s scanner) (TokenRow, error) {
		var r TokenRow
		err := s.Scan(&r.ID, &r.UserID, &r.CreatedAt, &r.ExpiresAt, &r.RevokedAt)
		return r, err
	}, `SELECT id, user_id, created_at, expires_at, revoked_at FROM tokens WHERE user_id = ? ORDER BY created_at`, userID)
}

// RevokeToken revokes a token and erases the private key sealed under it.
func (t *Tx) RevokeToken(id string, at int64) error {
	res, err := t.tx.Exec(`UPDATE tokens SET revoked_at = ?, sealed_key = x'' WHERE id = ? AND revoked_at IS NULL`, at, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return hush.Errorf(hush.ENOTFOUND, "active token not found")
	}
	return nil
}

// RevokeTokensOf revokes every token of a user.
func (t *Tx) RevokeTokensOf(userID string, at int64) error {
	return t.exec(`UPDATE tokens SET revoked_at = ?, sealed_key = x'' WHERE user_id = ? AND revoked_at IS NULL`, at, userID)
}

// UnwrappedTokens returns the tokens whose sealed key predates the KEK wrap
// (migration 0013) and is not yet erased.
func (t *Tx) UnwrappedTokens() ([]TokenRow, error) {
	return queryAll(t, func(s scanner) (TokenRow, error) {
		r := TokenRow{}
		err := s.Scan(&r.ID, &r.UserID, &r.SealedKey)
		return r, err
	}, `SELECT id, user_id, sealed_key FROM tokens WHERE key_wrapped = 0 AND length(sealed_key) > 0 ORDER BY id`)
}

// WrapTokenKey replaces an unwrapped token's sealed key with its wrapped
// form.
func (t *Tx) WrapTokenKey(id string, wrapped []byte) error {
	return t.exec(`UPDATE tokens SET sealed_key = ?, key_wrapped = 1 WHERE id = ? AND key_wrapped = 0`, wrapped, id)
}

// TokensEndedSince reports whether a token was revoked at or after since,
// or expired in [since, now] (milliseconds): whether an erasure (by this
// process or another) may have happened since then.
func (t *Tx) TokensEndedSince(since, now int64) (bool, error) {
	var v bool
	err := t.tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM tokens WHERE revoked_at >= ? OR (expires_at >= ? AND expires_at <= ?))`, since, since, now).Scan(&v)
	return v, err
}

// EraseTokenKeys erases the sealed private key of every token that is
// revoked or expired at now (milliseconds) and still holds one, keeping the
// row's metadata, and returns the ids it erased.
func (t *Tx) EraseTokenKeys(now int64) ([]string, error) {
	const where = `length(sealed_key) > 0 AND (revoked_at IS NOT NULL OR (expires_at IS NOT NULL AND expires_at <= ?))`
	ids, err := queryAll(t, func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	}, `SELECT id FROM tokens WHERE `+where+` ORDER BY id`, now)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return ids, t.exec(`UPDATE tokens SET sealed_key = x'' WHERE `+where, now)
}

const patientCols = `rowid, id, hetu_index, directory, created_at, created_by`

func scanPatient(s scanner) (PatientRow, error) {
	var p PatientRow
	err := s.Scan(&p.Seq, &p.ID, &p.HetuIndex, &p.Directory, &p.CreatedAt, &p.CreatedBy)
	return p, err
}

// InsertPatient adds a patient. ECONFLICT if the identity code is taken.
func (t *Tx) InsertPatient(p PatientRow) error {
	if err := t.exec(`INSERT INTO patients (id, hetu_index, directory, created_at, created_by) VALUES (?,?,?,?,?)`,
		p.ID, p.HetuIndex, p.Directory, p.CreatedAt, p.CreatedBy); err != nil {
		return err
	}
	return t.exec(`INSERT INTO directory_changes (patient_id) VALUES (?)`, p.ID)
}

// UpdatePatientDirectory replaces a patient's sealed directory entry (and
// identity-code index), keeping the previous entry in the history.
func (t *Tx) UpdatePatientDirectory(id string, hetuIndex, directory []byte, by string, at int64) error {
	if err := t.exec(`INSERT INTO patient_directory_history (patient_id, directory, replaced_at, replaced_by)
		SELECT id, directory, ?, ? FROM patients WHERE id = ?`, at, by, id); err != nil {
		return err
	}
	if err := t.exec(`UPDATE patients SET directory = ?, hetu_index = ? WHERE id = ?`, directory, hetuIndex, id); err != nil {
		return err
	}
	return t.exec(`INSERT INTO directory_changes (patient_id) VALUES (?)`, id)
}

// DirectoryChange is one numbered insert or change of a directory entry.
type DirectoryChange struct {
	Seq       int64
	PatientID string
}

// DirectoryChangesAfter returns the changes numbered after seq, in order.
func (t *Tx) DirectoryChangesAfter(seq int64) ([]DirectoryChange, error) {
	return queryAll(t, func(s scanner) (DirectoryChange, error) {
		var c DirectoryChange
		err := s.Scan(&c.Seq, &c.PatientID)
		return c, err
	}, `SELECT seq, patient_id FROM directory_changes WHERE seq > ? ORDER BY seq`, seq)
}

// MaxDirectorySeq returns the newest change number, 0 if none.
func (t *Tx) MaxDirectorySeq() (int64, error) {
	var n sql.NullInt64
	err := t.tx.QueryRow(`SELECT max(seq) FROM directory_changes`).Scan(&n)
	return n.Int64, err
}

// PatientByID returns a patient.
func (t *Tx) PatientByID(id string) (PatientRow, error) {
	p, err := scanPatient(t.tx.QueryRow(`SELECT `+patientCols+` FROM patients WHERE id = ?`, id))
	return p, one(err, "patient")
}

// PatientByHetuIndex returns the patient with that blind-indexed identity code.
func (t *Tx) PatientByHetuIndex(idx []byte) (PatientRow, error) {
	p, err := scanPatient(t.tx.QueryRow(`SELECT `+patientCols+` FROM patients WHERE hetu_index = ?`, idx))
	return p, one(err, "patient")
}

// PatientsAfter returns patients with Seq > seq, in Seq order.
func (t *Tx) PatientsAfter(seq int64) ([]PatientRow, error) {
	return queryAll(t, scanPatient, `SELECT `+patientCols+` FROM patients WHERE rowid > ? ORDER BY rowid`, seq)
}

// MaxPatientSeq returns the highest patient Seq, 0 if none.
func (t *Tx) MaxPatientSeq() (int64, error) {
	var n sql.NullInt64
	err := t.tx.QueryRow(`SELECT max(rowid) FROM patients`).Scan(&n)
	return n.Int64, err
}

// InsertEpoch records a record key epoch, its public key and the MAC that
// authenticates the two.
func (t *Tx) InsertEpoch(patientID string, epoch int, publicKey, mac []byte, at int64) error {
	return t.exec(`INSERT INTO record_epochs (patient_id, epoch, public_key, public_key_mac, created_at) VALUES (?,?,?,?,?)`, patientID, epoch, publicKey, mac, at)
}

// Epoch returns an epoch's public key and its MAC.
func (t *Tx) Epoch(patientID string, epoch int) (publicKey, mac []byte, err error) {
	err = t.tx.QueryRow(`SELECT public_key, public_key_mac FROM record_epochs WHERE patient_id = ? AND epoch = ?`, patientID, epoch).Scan(&publicKey, &mac)
	return publicKey, mac, one(err, "record epoch")
}

// CurrentEpoch returns the newest key epoch of a patient.
func (t *Tx) CurrentEpoch(patientID string) (int, error) {
	var e sql.NullInt64
	if err := t.tx.QueryRow(`SELECT max(epoch) FROM record_epochs WHERE patient_id = ?`, patientID).Scan(&e); err != nil {
		return 0, err
	}
	if !e.Valid {
		return 0, notFound("patient")
	}
	return int(e.Int64), nil
}

// InsertGrant stores a sealed grant.
func (t *Tx) InsertGrant(g GrantRow) error {
	return t.exec(`INSERT INTO grants (patient_id, epoch, principal, sealed, created_at) VALUES (?,?,?,?,?)`,
		g.PatientID, g.Epoch, g.Principal, g.Sealed, g.CreatedAt)
}

// Grant returns the grant of one epoch to one principal. ENOTFOUND if none.
func (t *Tx) Grant(patientID string, epoch int, principal string) (GrantRow, error) {
	g := GrantRow{PatientID: patientID, Epoch: epoch, Principal: principal}
	err := t.tx.QueryRow(`SELECT sealed, created_at FROM grants WHERE patient_id = ? AND epoch = ? AND principal = ?`,
		patientID, epoch, principal).Scan(&g.Sealed, &g.CreatedAt)
	return g, one(err, "grant")
}

// Grants returns every grant of a patient, or of every patient when
// patientID is empty.
func (t *Tx) Grants(patientID string) ([]GrantRow, error) {
	return queryAll(t, func(s scanner) (GrantRow, error) {
		var g GrantRow
		err := s.Scan(&g.PatientID, &g.Epoch, &g.Principal, &g.Sealed, &g.CreatedAt)
		return g, err
	}, `SELECT patient_id, epoch, principal, sealed, created_at FROM grants WHERE ? = '' OR patient_id = ? ORDER BY patient_id, epoch, principal`, patientID, patientID)
}

// DeleteGrants destroys a principal's grants, on one patient or (patientID
// empty) on all. A destroyed grant cannot be opened again through Hush.
func (t *Tx) DeleteGrants(patientID, principal string) error {
	return t.exec(`DELETE FROM grants WHERE principal = ? AND (? = '' OR patient_id = ?)`, principal, patientID, patientID)
}

// AddCareTeam adds a clinician to a patient's care team. ECONFLICT if already on it.
func (t *Tx) AddCareTeam(patientID, userID, by string, at int64) error {
	return t.exec(`INSERT INTO care_team (patient_id, user_id, added_at, added_by) VALUES (?,?,?,?)`, patientID, userID, at, by)
}

// RemoveCareTeam ends a care-team membership (the row stays as history).
func (t *Tx) RemoveCareTeam(patientID, userID, by string, at int64) error {
	return t.exec(`UPDATE care_team SET removed_at = ?, removed_by = ? WHERE patient_id = ? AND user_id = ? AND removed_at IS NULL`, at, by, patientID, userID)
}

// RemoveFromAllCareTeams ends every membership of a user.
func (t *Tx) RemoveFromAllCareTeams(userID, by string, at int64) error {
	return t.exec(`UPDATE care_team SET removed_at = ?, removed_by = ? WHERE user_id = ? AND removed_at IS NULL`, at, by, userID)
}

// CareTeam returns the current members of a patient's care team.
func (t *Tx) CareTeam(patientID string) ([]string, error) {
	return t.strings(`SELECT user_id FROM care_team WHERE patient_id = ? AND removed_at IS NULL ORDER BY added_at, user_id`, patientID)
}

// OnCareTeam reports whether a user is on a patient's care team.
func (t *Tx) OnCareTeam(patientID, userID string) (bool, error) {
	var n int
	err := t.tx.QueryRow(`SELECT count(*) FROM care_team WHERE patient_id = ? AND user_id = ? AND removed_at IS NULL`, patientID, userID).Scan(&n)
	return n > 0, err
}

// PatientsOf returns the ids of the patients a clinician treats.
func (t *Tx) PatientsOf(userID string) ([]string, error) {
	return t.strings(`SELECT patient_id FROM care_team WHERE user_id = ? AND removed_at IS NULL ORDER BY added_at`, userID)
}

func (t *Tx) strings(q string, args ...any) ([]string, error) {
	return queryAll(t, func(s scanner) (string, error) {
		var v string
		err := s.Scan(&v)
		return v, err
	}, q, args...)
}

const noteCols = `id, version, patient_id, epoch, author_id, kind, status, created_at, body`

func scanNote(s scanner) (NoteRow, error) {
	var n NoteRow
	err := s.Scan(&n.ID, &n.Version, &n.PatientID, &n.Epoch, &n.AuthorID, &n.Kind, &n.Status, &n.CreatedAt, &n.Body)
	return n, err
}

// InsertNote adds a note version. ECONFLICT if that version exists.
func (t *Tx) InsertNote(n NoteRow) error {
	return t.exec(`INSERT INTO notes (`+noteCols+`) VALUES (?,?,?,?,?,?,?,?,?)`,
		n.ID, n.Version, n.PatientID, n.Epoch, n.AuthorID, n.Kind, n.Status, n.CreatedAt, n.Body)
}

// Note returns one version of a note, the newest when version is 0.
func (t *Tx) Note(id string, version int) (NoteRow, error) {
	var row *sql.Row
	if version == 0 {
		row = t.tx.QueryRow(`SELECT `+noteCols+` FROM notes WHERE id = ? ORDER BY version DESC LIMIT 1`, id)
	} else {
		row = t.tx.QueryRow(`SELECT `+noteCols+` FROM notes WHERE id = ? AND version = ?`, id, version)
	}
	n, err := scanNote(row)
	return n, one(err, "note")
}

// NotesOf returns the newest version of each note of a patient, newest first.
func (t *Tx) NotesOf(patientID string) ([]NoteRow, error) {
	return queryAll(t, scanNote, `SELECT `+noteCols+` FROM notes n WHERE patient_id = ?
		AND version = (SELECT max(version) FROM notes WHERE id = n.id) ORDER BY created_at DESC, id`, patientID)
}

// AllNotes returns every note version (for tests and integrity checks).
func (t *Tx) AllNotes() ([]NoteRow, error) {
	return queryAll(t, scanNote, `SELECT `+noteCols+` FROM notes ORDER BY id, version`)
}

// ReplaceUserKeys installs a user's new key pair and password material and
// clears must_change.
func (t *Tx) ReplaceUserKeys(u UserRow) error {
	return t.execOne("active user", `UPDATE users SET public_key = ?, public_key_mac = ?, pw_salt = ?, pw_verifier = ?, pw_key = ?, must_change = 0, key_gen = ? WHERE id = ? AND active = 1`,
		u.PublicKey, u.PublicKeyMAC, u.PwSalt, u.PwVerifier, u.PwKey, u.KeyGen, u.ID)
}

// ReplaceUserKeyMAC replaces the MAC of a user's public key (the
// integrity upgrade).
func (t *Tx) ReplaceUserKeyMAC(id string, mac []byte) error {
	return t.execOne("user", `UPDATE users SET public_key_mac = ? WHERE id = ?`, mac, id)
}

// ReplaceGrant re-seals an existing grant (key rotation).
func (t *Tx) ReplaceGrant(g GrantRow) error {
	return t.exec(`UPDATE grants SET sealed = ?, created_at = ? WHERE patient_id = ? AND epoch = ? AND principal = ?`, g.Sealed, g.CreatedAt, g.PatientID, g.Epoch, g.Principal)
}

// GrantsOf returns every grant of a principal.
func (t *Tx) GrantsOf(principal string) ([]GrantRow, error) {
	return queryAll(t, func(s scanner) (GrantRow, error) {
		var g GrantRow
		err := s.Scan(&g.PatientID, &g.Epoch, &g.Principal, &g.Sealed, &g.CreatedAt)
		return g, err
	}, `SELECT patient_id, epoch, principal, sealed, created_at FROM grants WHERE principal = ?`, principal)
}

// PrivateRecordsOf returns every private record of an author.
func (t *Tx) PrivateRecordsOf(authorID string) ([]PrivateRecordRow, error) {
	return queryAll(t, func(s scanner) (PrivateRecordRow, error) {
		r := PrivateRecordRow{AuthorID: authorID}
		err := s.Scan(&r.PatientID, &r.PublicKey, &r.MAC, &r.AuthorGrant, &r.RecoveryGrant, &r.CreatedAt)
		return r, err
	}, `SELECT patient_id, public_key, public_key_mac, author_grant, recovery_grant, created_at FROM private_records WHERE author_id = ?`, authorID)
}

// ReplacePrivateAuthorGrant re-seals an author's private-record grant.
func (t *Tx) ReplacePrivateAuthorGrant(patientID, authorID string, grant []byte) error {
	return t.exec(`UPDATE private_records SET author_grant = ? WHERE patient_id = ? AND author_id = ?`, grant, patientID, authorID)
}
