package store

import "database/sql"

// AllTokens returns every token row (for the state digest: its state,
// not its secrets).
func (t *Tx) AllTokens() ([]TokenRow, error) {
	return queryAll(t, func(s scanner) (TokenRow, error) {
		var r TokenRow
		var sealed int
		err := s.Scan(&r.ID, &r.UserID, &sealed, &r.KeyWrapped, &r.CreatedAt, &r.ExpiresAt, &r.RevokedAt)
		if sealed > 0 {
			r.SealedKey = []byte{1} // present (its bytes are not read here)
		}
		return r, err
	}, `SELECT id, user_id, length(sealed_key), key_wrapped, created_at, expires_at, revoked_at FROM tokens ORDER BY id`)
}

// MetaRow is one clinic-wide value.
type MetaRow struct {
	Key   string
	Value []byte
}

// AllMeta returns every clinic-wide value.
func (t *Tx) AllMeta() ([]MetaRow, error) {
	return queryAll(t, func(s scanner) (MetaRow, error) {
		var r MetaRow
		err := s.Scan(&r.Key, &r.Value)
		return r, err
	}, `SELECT key, value FROM meta ORDER BY key`)
}

// RequestState is a care-team request with its outcome.
type RequestState struct {
	RequestRow
	ClosedAt sql.NullInt64
	ClosedBy sql.NullString
	Outcome  sql.NullString
}

// AllRequests returns every care-team request, open or closed.
func (t *Tx) AllRequests() ([]RequestState, error) {
	return queryAll(t, func(s scanner) (RequestState, error) {
		var r RequestState
		err := s.Scan(&r.ID, &r.PatientID, &r.ClinicianID, &r.RequestedBy, &r.CreatedAt, &r.ClosedAt, &r.ClosedBy, &r.Outcome)
		return r, err
	}, `SELECT id, patient_id, clinician_id, requested_by, created_at, closed_at, closed_by, outcome FROM careteam_requests ORDER BY id`)
}
