package store

// RequestRow is a care-team request.
type RequestRow struct {
	ID, PatientID, ClinicianID, RequestedBy string
	CreatedAt                               int64
}

// InsertRequest files a care-team request.
func (t *Tx) InsertRequest(r RequestRow) error {
	return t.exec(`INSERT INTO careteam_requests (id, patient_id, clinician_id, requested_by, created_at) VALUES (?,?,?,?,?)`,
		r.ID, r.PatientID, r.ClinicianID, r.RequestedBy, r.CreatedAt)
}

// OpenRequests returns the open requests, of one patient or (patientID
// empty) of all.
func (t *Tx) OpenRequests(patientID string) ([]RequestRow, error) {
	return queryAll(t, func(s scanner) (RequestRow, error) {
		var r RequestRow
		err := s.Scan(&r.ID, &r.PatientID, &r.ClinicianID, &r.RequestedBy, &r.CreatedAt)
		return r, err
	}, `SELECT id, patient_id, clinician_id, requested_by, created_at FROM careteam_requests WHERE closed_at IS NULL AND (? = '' OR patient_id = ?) ORDER BY created_at`, patientID, patientID)
}

// CloseRequest records a request's outcome.
func (t *Tx) CloseRequest(id, by, outcome string, at int64) error {
	res, err := t.tx.Exec(`UPDATE careteam_requests SET closed_at = ?, closed_by = ?, outcome = ? WHERE id = ? AND closed_at IS NULL`, at, by, outcome, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("open request")
	}
	return nil
}
