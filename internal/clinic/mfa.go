package clinic

import (
	"context"

	"github.com/hushepr/hush/internal/alert"
	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/auth"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// Second factors for staff sign-in in the web app. A TOTP secret is sealed
// under a KEK-derived key bound to the user; recovery codes are kept as
// MACs. WebAuthn (a later step) is a second factor too: it unseals nothing.

func (c *Clinic) totpAD(userID string) []byte { return seal.AD("hush totp secret v1", c.id, userID) }

func (c *Clinic) recoveryCodeMAC(userID, code string) []byte {
	return c.credMAC.MAC(seal.AD("hush recovery code v1", c.id, userID, auth.NormalizeRecoveryCode(code)))
}

// HasTOTP reports whether a user has enrolled a TOTP second factor.
func (c *Clinic) HasTOTP(ctx context.Context, userID string) (bool, error) {
	var ok bool
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		u, err := c.verifiedUser(tx, userID)
		ok = u.HasTOTP
		return err
	})
	return ok, err
}

// EnrollTOTP stores secret as the user's second factor once code proves the
// user's authenticator holds it, and returns fresh recovery codes (shown
// once). It spends the account's enrolment code (enrolment.go) in the same
// transaction: without a valid one nothing is enrolled (EUNAUTHORIZED).
func (c *Clinic) EnrollTOTP(ctx context.Context, userID string, secret []byte, code, enrolmentCode string) ([]string, error) {
	now := c.now()
	step, ok := auth.CheckTOTP(secret, code, now, 0)
	if !ok {
		return nil, hush.Errorf(hush.EINVALID, "the code does not match: check the time on your phone and try the next code")
	}
	codes := auth.NewRecoveryCodes(10)
	macs := make([][]byte, len(codes))
	for i, rc := range codes {
		macs[i] = c.recoveryCodeMAC(userID, rc)
	}
	row := store.MFARow{UserID: userID, TOTPSealed: c.credWrap.Seal(secret, c.totpAD(userID)), LastStep: step, EnrolledAt: now.UnixMilli()}
	var expired bool
	err := c.writeTx(ctx, func(tx *store.Tx) error {
		// Enrolment happens once: a second factor is never overwritten here
		// (a stale enrolment page must not replace the one the user set).
		u, err := c.verifiedUser(tx, userID)
		if err != nil {
			return err
		}
		if _, err := tx.MFA(userID); err == nil || u.HasTOTP {
			return hush.Errorf(hush.ECONFLICT, "a second factor is already enrolled")
		}
		if expired, err = c.checkEnrolmentCode(tx, userID, enrolmentCode, now, true); err != nil {
			return err
		}
		if err := tx.PutMFA(row, macs); err != nil {
			return err
		}
		if err := c.stampUser(tx, userID); err != nil {
			return err
		}
		ev := c.event(ctx, audit.ActEnrolCodeUse, "", userID, nil)
		ev.ActorID, ev.Purpose = userID, audit.PurposeSecurity
		if _, err := c.audit.AppendTx(tx, ev); err != nil {
			return err
		}
		ev.Action = audit.ActMFAEnroll
		_, err = c.audit.AppendTx(tx, ev)
		return err
	})
	if err != nil {
		if hush.ErrorCode(err) == hush.EUNAUTHORIZED {
			c.auditEnrolmentRefusal(ctx, userID, expired)
		}
		return nil, err
	}
	c.notifyHolder(ctx, userID, alert.Notice{Kind: alert.NoticeSecondFactor, At: now})
	return codes, nil
}

// VerifySecondFactor accepts a current TOTP code (once) or an unused
// recovery code (which is then spent). Every attempt is audited.
func (c *Clinic) VerifySecondFactor(ctx context.Context, userID, code string) error {
	bad := hush.Errorf(hush.EUNAUTHORIZED, "the code is wrong or was already used")
	now := c.now()
	err := c.writeTx(ctx, func(tx *store.Tx) error {
		if _, err := c.verifiedUser(tx, userID); err != nil {
			return err
		}
		m, err := tx.MFA(userID)
		if err != nil {
			return hush.Errorf(hush.EUNAUTHORIZED, "no second factor is enrolled")
		}
		secret, err := c.credWrap.Open(m.TOTPSealed, c.totpAD(userID))
		if err != nil {
			return hush.Wrap(hush.EINTERNAL, "a second factor does not open", err)
		}
		defer clear(secret)
		if step, ok := auth.CheckTOTP(secret, code, now, m.LastStep); ok {
			if err := tx.UseTOTPStep(userID, step); err != nil {
				return err
			}
			// The step used is state: put back, a code could be replayed.
			return c.stampUser(tx, userID)
		}
		if err := tx.UseRecoveryCode(userID, c.recoveryCodeMAC(userID, code), now.UnixMilli()); err != nil {
			return bad
		}
		// A spent code is security state: putting used_at back to NULL
		// in the file would make it work again.
		return c.stampUser(tx, userID)
	})
	ev := c.event(ctx, audit.ActMFA, "", "", err)
	ev.ActorID, ev.Purpose = userID, audit.PurposeSecurity
	if hush.ErrorCode(err) == hush.ECONFLICT {
		err = bad
	}
	if aerr := c.audit.Append(ctx, ev); err == nil {
		err = aerr
	}
	return err
}
