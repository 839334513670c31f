package clinic

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/auth"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/store"
)

// TestEnrolmentCode: a new account's first enrolment needs its one-time
// code; the code is single use, expires after 72 hours, is stored only as
// a MAC, and an MFA reset needs a new one.
func TestEnrolmentCode(t *testing.T) {
	e := newEnv(t)
	a := e.user("a@x.fi", hush.RoleClinician)
	now := time.Now()
	e.c.SetClock(func() time.Time { return now })
	ec, err := e.c.IssueEnrolmentCode(e.ctx, a.UserID, true) // no relay: shown, not e-mailed
	if err != nil || ec.Code == "" || ec.Emailed || !ec.Expires.Equal(now.Add(EnrolmentCodeTTL).UTC()) {
		t.Fatalf("issue: %+v %v", ec, err)
	}
	secret := auth.NewTOTPSecret()
	totp := func() string { return auth.TOTPCode(secret, auth.StepAt(now)) }
	for _, bad := range []string{"", "aaaaa-bbbbb-ccccc-ddddd", ec.Code + "x"} {
		if err := e.c.CheckEnrolmentCode(e.ctx, a.UserID, bad); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
			t.Errorf("check %q: %v", bad, err)
		}
		if _, err := e.c.EnrollTOTP(e.ctx, a.UserID, secret, totp(), bad); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
			t.Errorf("enrol with %q: %v", bad, err)
		}
	}
	if ok, _ := e.c.HasTOTP(e.ctx, a.UserID); ok {
		t.Fatal("enrolled without the enrolment code")
	}
	// Someone else's code does not work for this account.
	b := e.user("b@x.fi", hush.RoleClinician)
	ecB, _ := e.c.IssueEnrolmentCode(e.ctx, b.UserID, false)
	if err := e.c.CheckEnrolmentCode(e.ctx, a.UserID, ecB.Code); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("another account's code: %v", err)
	}
	// Typed in capitals and without dashes it is the same code.
	if err := e.c.CheckEnrolmentCode(e.ctx, a.UserID, strings.ToUpper(strings.ReplaceAll(ec.Code, "-", ""))); err != nil {
		t.Fatalf("check: %v", err)
	}
	// Only a MAC is stored.
	e.c.db.Read(e.ctx, func(tx *store.Tx) error {
		r, err := tx.EnrolmentCode(a.UserID)
		if err != nil || bytes.Contains(r.CodeMAC, []byte(ec.Code)) || len(r.CodeMAC) != 32 {
			t.Errorf("stored code: %v", err)
		}
		return nil
	})
	if _, err := e.c.EnrollTOTP(e.ctx, a.UserID, secret, totp(), ec.Code); err != nil {
		t.Fatalf("enrol: %v", err)
	}
	// An enrolled account gets no new code; only a reset makes way.
	if _, err := e.c.IssueEnrolmentCode(e.ctx, a.UserID, false); hush.ErrorCode(err) != hush.ECONFLICT {
		t.Errorf("a code for an enrolled account: %v", err)
	}
	// Single use: after a reset, the old code is refused.
	if _, err := e.c.ResetMFA(e.ctx, a.UserID, false); err != nil {
		t.Fatal(err)
	}
	if ok, _ := e.c.HasTOTP(e.ctx, a.UserID); ok {
		t.Fatal("a reset left the second factor")
	}
	if err := e.c.CheckEnrolmentCode(e.ctx, a.UserID, ec.Code); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("a spent code after reset: %v", err)
	}
	ec2, _ := e.c.IssueEnrolmentCode(e.ctx, a.UserID, false)
	// Expiry: valid just before 72 hours, refused at 72 hours.
	now = now.Add(EnrolmentCodeTTL - time.Minute)
	if err := e.c.CheckEnrolmentCode(e.ctx, a.UserID, ec2.Code); err != nil {
		t.Errorf("before expiry: %v", err)
	}
	now = now.Add(time.Minute)
	if err := e.c.CheckEnrolmentCode(e.ctx, a.UserID, ec2.Code); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("at expiry: %v", err)
	}
	if _, err := e.c.EnrollTOTP(e.ctx, a.UserID, secret, totp(), ec2.Code); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("enrol after expiry: %v", err)
	}
	// A database writer cannot extend a code by moving its issue time.
	now = now.Add(-time.Hour)
	e.c.db.ReadWrite(e.ctx, func(tx *store.Tx) error {
		r, _ := tx.EnrolmentCode(a.UserID)
		r.IssuedAt += 24 * 3600 * 1000
		return tx.PutEnrolmentCode(r)
	})
	if err := e.c.CheckEnrolmentCode(e.ctx, a.UserID, ec2.Code); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("moved issue time: %v", err)
	}
	// Issue, use, refusals and expiry are audited.
	for _, act := range []string{"enrol.code.issue", "enrol.code.use", "enrol.code.expired", "mfa.reset"} {
		evs, err := e.c.audit.Search(e.ctx, store.AuditQuery{ActionPrefix: act, Limit: 50})
		if err != nil || len(evs) == 0 {
			t.Errorf("no %s event: %v", act, err)
		}
	}
	// Only an admin issues codes; a clinician cannot.
	if _, err := e.c.IssueEnrolmentCode(as(b), a.UserID, false); hush.ErrorCode(err) != hush.EFORBIDDEN {
		t.Errorf("clinician issued a code: %v", err)
	}
}

// TestDeviceToken: a known-device cookie names its account and device and
// cannot be altered, moved to another account or used after it expires.
func TestDeviceToken(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	e.c.SetClock(func() time.Time { return now })
	v := e.c.DeviceToken("u1")
	uid, dev, ok := e.c.CheckDeviceToken(v)
	if !ok || uid != "u1" || dev == "" {
		t.Fatalf("check: %q %q %v", uid, dev, ok)
	}
	if _, dev2, _ := e.c.CheckDeviceToken(e.c.DeviceToken("u1")); dev2 == dev {
		t.Error("two devices share an id")
	}
	p := strings.Split(v, ".")
	for name, bad := range map[string]string{
		"other user": strings.Join([]string{p[0], p[1], "u2", p[3], p[4]}, "."),
		"later":      strings.Join([]string{p[0], p[1], p[2], p[3] + "0", p[4]}, "."),
		"other dev":  strings.Join([]string{p[0], "AAAA", p[2], p[3], p[4]}, "."),
		"no mac":     strings.Join(p[:4], "."),
		"junk":       "d1....",
	} {
		if _, _, ok := e.c.CheckDeviceToken(bad); ok {
			t.Errorf("%s accepted", name)
		}
	}
	now = now.Add(DeviceTTL)
	if _, _, ok := e.c.CheckDeviceToken(v); ok {
		t.Error("expired device accepted")
	}
}
