package store

// RecordHead is a record_heads row: a record's current key epoch and the
// hash of its current directory entry, with a change counter and a MAC
// (docs/threat-model.md, "The database writer").
type RecordHead struct {
	PatientID string
	Epoch     int
	Gen       int64
	Directory []byte // SHA-256 of the current directory entry (and its identity-code index)
	Waiting   bool   // registered without a clinician, and none since
	Team      []byte // SHA-256 of the active care team's ids
	Content   int64  // note versions and clinical items of the record
	MAC       []byte
}

// RecordHead returns a record's head. ENOTFOUND if it has none.
func (t *Tx) RecordHead(patientID string) (RecordHead, error) {
	h := RecordHead{PatientID: patientID}
	err := t.tx.QueryRow(`SELECT epoch, gen, directory, waiting, team, content, mac FROM record_heads WHERE patient_id = ?`, patientID).Scan(&h.Epoch, &h.Gen, &h.Directory, &h.Waiting, &h.Team, &h.Content, &h.MAC)
	return h, one(err, "record head")
}

// RecordHeads returns every record's head.
func (t *Tx) RecordHeads() (map[string]RecordHead, error) {
	hs, err := queryAll(t, func(s scanner) (RecordHead, error) {
		var h RecordHead
		err := s.Scan(&h.PatientID, &h.Epoch, &h.Gen, &h.Directory, &h.Waiting, &h.Team, &h.Content, &h.MAC)
		return h, err
	}, `SELECT patient_id, epoch, gen, directory, waiting, team, content, mac FROM record_heads`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]RecordHead, len(hs))
	for _, h := range hs {
		out[h.PatientID] = h
	}
	return out, nil
}

// PutRecordHead inserts or replaces a record's head.
func (t *Tx) PutRecordHead(h RecordHead) error {
	return t.exec(`INSERT INTO record_heads (patient_id, epoch, gen, directory, waiting, team, content, mac) VALUES (?,?,?,?,?,?,?,?)
		ON CONFLICT (patient_id) DO UPDATE SET epoch = excluded.epoch, gen = excluded.gen, directory = excluded.directory, waiting = excluded.waiting, team = excluded.team, content = excluded.content, mac = excluded.mac`,
		h.PatientID, h.Epoch, h.Gen, h.Directory, h.Waiting, h.Team, h.Content, h.MAC)
}

// PatientIDs returns the ids of every patient.
func (t *Tx) PatientIDs() ([]string, error) {
	return queryAll(t, func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	}, `SELECT id FROM patients ORDER BY rowid`)
}

// RecordContent counts a record's note versions and clinical items.
func (t *Tx) RecordContent(patientID string) (int64, error) {
	var n int64
	err := t.tx.QueryRow(`SELECT (SELECT count(*) FROM notes WHERE patient_id = ?) + (SELECT count(*) FROM clinical_items WHERE patient_id = ?)`, patientID, patientID).Scan(&n)
	return n, err
}
