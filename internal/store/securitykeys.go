package store

// SecurityKeyRow is one WebAuthn credential of a user, sealed.
type SecurityKeyRow struct {
	ID        []byte
	UserID    string
	Sealed    []byte
	CreatedAt int64
}

// SecurityKeys returns a user's WebAuthn credentials, oldest first.
func (t *Tx) SecurityKeys(userID string) ([]SecurityKeyRow, error) {
	return queryAll(t, func(s scanner) (SecurityKeyRow, error) {
		r := SecurityKeyRow{UserID: userID}
		return r, s.Scan(&r.ID, &r.Sealed, &r.CreatedAt)
	}, `SELECT id, sealed, created_at FROM security_keys WHERE user_id = ? ORDER BY created_at, id`, userID)
}

// PutSecurityKey adds a credential. ECONFLICT if its id is taken.
func (t *Tx) PutSecurityKey(r SecurityKeyRow) error {
	return t.exec(`INSERT INTO security_keys (id, user_id, sealed, created_at) VALUES (?,?,?,?)`, r.ID, r.UserID, r.Sealed, r.CreatedAt)
}

// UpdateSecurityKey replaces a credential's sealed state (its sign counter
// after a sign-in). ENOTFOUND if the user has no such credential.
func (t *Tx) UpdateSecurityKey(userID string, id, sealed []byte) error {
	return t.execOne("security key", `UPDATE security_keys SET sealed = ? WHERE user_id = ? AND id = ?`, sealed, userID, id)
}

// DeleteSecurityKey removes a credential. ENOTFOUND if there is none.
func (t *Tx) DeleteSecurityKey(userID string, id []byte) error {
	return t.execOne("security key", `DELETE FROM security_keys WHERE user_id = ? AND id = ?`, userID, id)
}

// execOne runs a statement that must change exactly one row of what.
func (t *Tx) execOne(what, q string, args ...any) error {
	res, err := t.tx.Exec(q, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound(what)
	}
	return nil
}
