package store

// PrivateRecordRow holds the keys of one author's process notes on one
// patient.
type PrivateRecordRow struct {
	PatientID, AuthorID string
	PublicKey, MAC      []byte
	AuthorGrant         []byte
	RecoveryGrant       []byte
	CreatedAt           int64
}

// InsertPrivateRecord stores a private record's keys.
func (t *Tx) InsertPrivateRecord(r PrivateRecordRow) error {
	return t.exec(`INSERT INTO private_records (patient_id, author_id, public_key, public_key_mac, author_grant, recovery_grant, created_at) VALUES (?,?,?,?,?,?,?)`,
		r.PatientID, r.AuthorID, r.PublicKey, r.MAC, r.AuthorGrant, r.RecoveryGrant, r.CreatedAt)
}

// PrivateRecord returns an author's private record on a patient.
func (t *Tx) PrivateRecord(patientID, authorID string) (PrivateRecordRow, error) {
	r := PrivateRecordRow{PatientID: patientID, AuthorID: authorID}
	err := t.tx.QueryRow(`SELECT public_key, public_key_mac, author_grant, recovery_grant, created_at FROM private_records WHERE patient_id = ? AND author_id = ?`,
		patientID, authorID).Scan(&r.PublicKey, &r.MAC, &r.AuthorGrant, &r.RecoveryGrant, &r.CreatedAt)
	return r, one(err, "private record")
}

// ProcessNoteRow is a process note.
type ProcessNoteRow struct {
	ID, PatientID, AuthorID string
	CreatedAt               int64
	Body                    []byte
}

// InsertProcessNote adds a process note.
func (t *Tx) InsertProcessNote(r ProcessNoteRow) error {
	return t.exec(`INSERT INTO process_notes (id, patient_id, author_id, created_at, body) VALUES (?,?,?,?,?)`, r.ID, r.PatientID, r.AuthorID, r.CreatedAt, r.Body)
}

// ProcessNotes returns an author's process notes on a patient, newest first.
func (t *Tx) ProcessNotes(patientID, authorID string) ([]ProcessNoteRow, error) {
	return queryAll(t, func(s scanner) (ProcessNoteRow, error) {
		var r ProcessNoteRow
		err := s.Scan(&r.ID, &r.PatientID, &r.AuthorID, &r.CreatedAt, &r.Body)
		return r, err
	}, `SELECT id, patient_id, author_id, created_at, body FROM process_notes WHERE patient_id = ? AND author_id = ? ORDER BY created_at DESC, rowid DESC`, patientID, authorID)
}
