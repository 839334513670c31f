package store

// ItemRow is a clinical item (a questionnaire result, a diagnosis).
type ItemRow struct {
	ID        string
	PatientID string
	Epoch     int
	Kind      string
	AuthorID  string
	CreatedAt int64
	Body      []byte
}

const itemCols = `id, patient_id, epoch, kind, author_id, created_at, body`

func scanItem(s scanner) (ItemRow, error) {
	var r ItemRow
	err := s.Scan(&r.ID, &r.PatientID, &r.Epoch, &r.Kind, &r.AuthorID, &r.CreatedAt, &r.Body)
	return r, err
}

// InsertItem adds a clinical item.
func (t *Tx) InsertItem(r ItemRow) error {
	return t.exec(`INSERT INTO clinical_items (`+itemCols+`) VALUES (?,?,?,?,?,?,?)`, r.ID, r.PatientID, r.Epoch, r.Kind, r.AuthorID, r.CreatedAt, r.Body)
}

// Items returns a patient's items of one kind, oldest first.
func (t *Tx) Items(patientID, kind string) ([]ItemRow, error) {
	return queryAll(t, scanItem, `SELECT `+itemCols+` FROM clinical_items WHERE patient_id = ? AND kind = ? ORDER BY created_at, rowid`, patientID, kind)
}
