package store

import "database/sql"

// MFARow is a user's enrolled TOTP.
type MFARow struct {
	UserID     string
	TOTPSealed []byte
	LastStep   int64
	EnrolledAt int64
}

// MFA returns a user's TOTP enrolment. ENOTFOUND if none.
func (t *Tx) MFA(userID string) (MFARow, error) {
	r := MFARow{UserID: userID}
	err := t.tx.QueryRow(`SELECT totp_sealed, last_step, enrolled_at FROM user_mfa WHERE user_id = ?`, userID).Scan(&r.TOTPSealed, &r.LastStep, &r.EnrolledAt)
	return r, one(err, "second factor")
}

// PutMFA enrols (or re-enrols) a user's TOTP and replaces their recovery
// codes.
func (t *Tx) PutMFA(r MFARow, codeMACs [][]byte) error {
	if err := t.exec(`INSERT INTO user_mfa (user_id, totp_sealed, last_step, enrolled_at) VALUES (?,?,?,?)
		ON CONFLICT (user_id) DO UPDATE SET totp_sealed = excluded.totp_sealed, last_step = excluded.last_step, enrolled_at = excluded.enrolled_at`,
		r.UserID, r.TOTPSealed, r.LastStep, r.EnrolledAt); err != nil {
		return err
	}
	if err := t.exec(`DELETE FROM recovery_codes WHERE user_id = ?`, r.UserID); err != nil {
		return err
	}
	for _, m := range codeMACs {
		if err := t.exec(`INSERT INTO recovery_codes (user_id, code_mac) VALUES (?, ?)`, r.UserID, m); err != nil {
			return err
		}
	}
	return nil
}

// UseTOTPStep records the step of an accepted code; it fails (ECONFLICT) if
// that step or a later one was already used, so a code works once.
func (t *Tx) UseTOTPStep(userID string, step int64) error {
	res, err := t.tx.Exec(`UPDATE user_mfa SET last_step = ? WHERE user_id = ? AND last_step < ?`, step, userID, step)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return conflict("that code was already used")
	}
	return nil
}

// UseRecoveryCode marks a recovery code used. ENOTFOUND if it is not an
// unused code of the user.
func (t *Tx) UseRecoveryCode(userID string, codeMAC []byte, at int64) error {
	res, err := t.tx.Exec(`UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_mac = ? AND used_at IS NULL`, at, userID, codeMAC)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("recovery code")
	}
	return nil
}

// UnusedRecoveryCodes counts a user's unused recovery codes.
func (t *Tx) UnusedRecoveryCodes(userID string) (int, error) {
	var n sql.NullInt64
	err := t.tx.QueryRow(`SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID).Scan(&n)
	return int(n.Int64), err
}
