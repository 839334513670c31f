package clinic

import (
	"context"
	"strconv"
	"time"

	"github.com/hushepr/hush/internal/alert"
	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/auth"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// Enrolment codes close the trust-on-first-use gap of admin-created
// accounts. Whoever chose a new account's first password (an admin, or
// anyone who saw it on its way) could otherwise do the first sign-in,
// enrol their own authenticator and own the account's new key pair. So
// the first sign-in — the one that enrols the second factor and replaces
// the key pair — also needs a one-time enrolment code, delivered
// separately: shown once to the admin to hand over in person, or e-mailed
// to the holder when the clinic has an SMTP relay. A code is valid for
// EnrolmentCodeTTL, works once, and is stored only as a MAC under a
// KEK-derived key bound to the clinic, the user and its issue time, so
// neither a copy of the database nor a database writer learns or forges
// one. Issue, use and refusals are audited.
//
// The rule is simple and holds for old rows too: an account with no
// second factor enrolled can enrol one only with its enrolment code.

// EnrolmentCodeTTL is how long an enrolment code stays valid.
const EnrolmentCodeTTL = 72 * time.Hour

// EnrolmentCode is a newly issued code.
type EnrolmentCode struct {
	Code    string    // the code to hand over; "" when it was e-mailed to the holder
	Emailed bool      // the code went to the holder's address
	Expires time.Time // end of its validity
}

func (c *Clinic) enrolmentCodeMAC(userID, code string, issuedAt int64) []byte {
	return c.credMAC.MAC(seal.AD("hush enrolment code v1", c.id, userID, strconv.FormatInt(issuedAt, 10), auth.NormalizeRecoveryCode(code)))
}

var errEnrolmentCode = hush.Errorf(hush.EUNAUTHORIZED, "the enrolment code is wrong, used or expired")

// IssueEnrolmentCode makes a new one-time enrolment code for a staff
// account that has no second factor yet (ECONFLICT otherwise: ResetMFA),
// replacing any earlier code. With email set and an SMTP relay
// configured, the code is e-mailed to the holder and not returned;
// otherwise it is returned once for the admin to hand over (and the
// holder is told by e-mail, when possible, that a code was issued). The
// operator (no actor) or an admin may issue one.
func (c *Clinic) IssueEnrolmentCode(ctx context.Context, userID string, email bool) (EnrolmentCode, error) {
	if a := hush.ActorFrom(ctx); a != nil && a.Role != hush.RoleAdmin {
		return EnrolmentCode{}, hush.Errorf(hush.EFORBIDDEN, "only an admin can issue an enrolment code")
	}
	code := auth.NewEnrolmentCode()
	now := c.now()
	err := c.writeTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.MFA(userID); err == nil {
			return hush.Errorf(hush.ECONFLICT, "the account already has a second factor; reset it to enrol a new one")
		}
		return c.putEnrolmentCode(ctx, tx, userID, code, now)
	})
	if err != nil {
		return EnrolmentCode{}, err
	}
	return c.deliverEnrolmentCode(ctx, userID, code, now, email), nil
}

// putEnrolmentCode stores a code's MAC for an active staff account, in tx,
// with its audit event.
func (c *Clinic) putEnrolmentCode(ctx context.Context, tx *store.Tx, userID, code string, now time.Time) error {
	u, err := tx.UserByID(userID)
	if err != nil {
		return err
	}
	if !u.Active || u.Role == string(hush.RolePatient) {
		return hush.Errorf(hush.EINVALID, "only an active staff account gets an enrolment code")
	}
	at := now.UnixMilli()
	if err := tx.PutEnrolmentCode(store.EnrolmentCodeRow{UserID: userID, CodeMAC: c.enrolmentCodeMAC(userID, code, at), IssuedAt: at}); err != nil {
		return err
	}
	ev := c.event(ctx, audit.ActEnrolCodeIssue, "", userID, nil)
	ev.Purpose = audit.PurposeSecurity
	_, err = c.audit.AppendTx(tx, ev)
	return err
}

// deliverEnrolmentCode e-mails a stored code to its holder when asked and
// possible, or returns it to be shown once.
func (c *Clinic) deliverEnrolmentCode(ctx context.Context, userID, code string, now time.Time, email bool) EnrolmentCode {
	ec := EnrolmentCode{Code: code, Expires: now.Add(EnrolmentCodeTTL).UTC()}
	if email && c.notifyHolder(ctx, userID, alert.Notice{Kind: alert.NoticeEnrolmentCode, At: now, Code: code, Expires: ec.Expires}) {
		ec.Code, ec.Emailed = "", true
		return ec
	}
	c.notifyHolder(ctx, userID, alert.Notice{Kind: alert.NoticeEnrolmentCode, At: now})
	return ec
}

// checkEnrolmentCode verifies userID's code in tx and, with spend set,
// marks it used. Every refusal is audited (expiry apart, as
// enrol.code.expired) by the caller's event.
func (c *Clinic) checkEnrolmentCode(tx *store.Tx, userID, code string, now time.Time, spend bool) (expired bool, err error) {
	r, err := tx.EnrolmentCode(userID)
	if err != nil {
		return false, errEnrolmentCode
	}
	if !c.credMAC.VerifyMAC(seal.AD("hush enrolment code v1", c.id, userID, strconv.FormatInt(r.IssuedAt, 10), auth.NormalizeRecoveryCode(code)), r.CodeMAC) || r.UsedAt.Valid {
		return false, errEnrolmentCode
	}
	if !now.Before(time.UnixMilli(r.IssuedAt).Add(EnrolmentCodeTTL)) {
		return true, errEnrolmentCode
	}
	if spend {
		if err := tx.UseEnrolmentCode(userID, r.CodeMAC, now.UnixMilli()); err != nil {
			return false, errEnrolmentCode
		}
	}
	return false, nil
}

// CheckEnrolmentCode tells the sign-in whether code is the user's valid,
// unused enrolment code, without spending it (EnrollTOTP spends it).
// Refusals are audited; the web layer counts every attempt against the
// sign-in throttles.
func (c *Clinic) CheckEnrolmentCode(ctx context.Context, userID, code string) error {
	now := c.now()
	var expired bool
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		expired, err = c.checkEnrolmentCode(tx, userID, code, now, false)
		return err
	})
	if err != nil && hush.ErrorCode(err) == hush.EUNAUTHORIZED {
		c.auditEnrolmentRefusal(ctx, userID, expired)
	}
	return err
}

func (c *Clinic) auditEnrolmentRefusal(ctx context.Context, userID string, expired bool) {
	act := audit.ActEnrolCodeUse
	if expired {
		act = audit.ActEnrolCodeExpired
	}
	ev := c.event(ctx, act, "", userID, errEnrolmentCode)
	ev.ActorID, ev.Purpose = userID, audit.PurposeSecurity
	c.audit.Append(ctx, ev)
}

// ResetMFA removes a staff account's second factors (TOTP, recovery codes
// and security keys), ends its sessions and issues a new enrolment code:
// the holder signs in with their password and the code and enrols afresh.
// The operator or an admin; audited; the holder is told.
func (c *Clinic) ResetMFA(ctx context.Context, userID string, email bool) (EnrolmentCode, error) {
	if a := hush.ActorFrom(ctx); a != nil && a.Role != hush.RoleAdmin {
		return EnrolmentCode{}, hush.Errorf(hush.EFORBIDDEN, "only an admin can reset a second factor")
	}
	code := auth.NewEnrolmentCode()
	now := c.now()
	err := c.writeTx(ctx, func(tx *store.Tx) error {
		if err := c.putEnrolmentCode(ctx, tx, userID, code, now); err != nil {
			return err
		}
		// The reset changes the enrolled factors: a verified row, stamped.
		// A row whose only change is deleted factors (the integrity alert
		// of a second factor removed in the database) is what a reset
		// repairs, so it is accepted too.
		r, err := tx.UserByID(userID)
		if err != nil {
			return err
		}
		if c.checkUser(r) != nil && !c.onlyFactorsDiffer(r) {
			return errIntegrity
		}
		if err := tx.ResetMFA(userID); err != nil {
			return err
		}
		if err := c.stampUser(tx, userID); err != nil {
			return err
		}
		ev := c.event(ctx, audit.ActMFAReset, "", userID, nil)
		ev.Purpose = audit.PurposeSecurity
		_, err = c.audit.AppendTx(tx, ev)
		return err
	})
	if err != nil {
		return EnrolmentCode{}, err
	}
	c.endSessionsOf(userID)
	c.notifyHolder(ctx, userID, alert.Notice{Kind: alert.NoticeMFAReset, At: now})
	return c.deliverEnrolmentCode(ctx, userID, code, now, email), nil
}

// endSessionsOf ends an account's API and browser sessions.
func (c *Clinic) endSessionsOf(userID string) {
	if c.trip == nil {
		c.dropSessionsOf(userID)
		return
	}
	c.endSessions(userID)
}
