package store

import "database/sql"

// EnrolmentCodeRow is a user's outstanding (or spent) enrolment code.
type EnrolmentCodeRow struct {
	UserID   string
	CodeMAC  []byte
	IssuedAt int64
	UsedAt   sql.NullInt64
}

// EnrolmentCode returns a user's enrolment code row. ENOTFOUND if none.
func (t *Tx) EnrolmentCode(userID string) (EnrolmentCodeRow, error) {
	r := EnrolmentCodeRow{UserID: userID}
	err := t.tx.QueryRow(`SELECT code_mac, issued_at, used_at FROM enrolment_codes WHERE user_id = ?`, userID).Scan(&r.CodeMAC, &r.IssuedAt, &r.UsedAt)
	return r, one(err, "enrolment code")
}

// PutEnrolmentCode stores a new code for a user, replacing any earlier one.
func (t *Tx) PutEnrolmentCode(r EnrolmentCodeRow) error {
	return t.exec(`INSERT INTO enrolment_codes (user_id, code_mac, issued_at, used_at) VALUES (?,?,?,NULL)
		ON CONFLICT (user_id) DO UPDATE SET code_mac = excluded.code_mac, issued_at = excluded.issued_at, used_at = NULL`,
		r.UserID, r.CodeMAC, r.IssuedAt)
}

// UseEnrolmentCode spends a user's code once: ENOTFOUND unless the stored
// code has this MAC and is unused.
func (t *Tx) UseEnrolmentCode(userID string, codeMAC []byte, at int64) error {
	return t.execOne("enrolment code", `UPDATE enrolment_codes SET used_at = ? WHERE user_id = ? AND code_mac = ? AND used_at IS NULL`, at, userID, codeMAC)
}

// ResetMFA deletes a user's TOTP enrolment, recovery codes and security
// keys, so that the next sign-in enrols a second factor afresh.
func (t *Tx) ResetMFA(userID string) error {
	for _, q := range []string{`DELETE FROM recovery_codes WHERE user_id = ?`, `DELETE FROM user_mfa WHERE user_id = ?`, `DELETE FROM security_keys WHERE user_id = ?`} {
		if err := t.exec(q, userID); err != nil {
			return err
		}
	}
	return nil
}
