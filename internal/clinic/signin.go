package clinic

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/hushepr/hush/internal/alert"
	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// Sign-in under attack (docs/web.md): the web sign-in's throttles decide,
// the clinic records and delivers what they see, and vouches for the
// browsers that signed in before.

// Sign-in alert kinds (audit action alert.<kind>, and the alert's kind).
const (
	// AlertMFAGuessing: repeated wrong second factors after the right
	// password. Critical: someone holds the account's password.
	AlertMFAGuessing = "signin.mfa"
	// AlertLockout: an account's sign-in lock engaged after repeated
	// failures (a warning: it may be the holder's own typing).
	AlertLockout = "signin.lockout"
	// AlertLockoutSpread: while an account is locked, its failures come
	// from several network addresses. Critical: someone is keeping the
	// holder out, or guessing from many machines.
	AlertLockoutSpread = "signin.spread"
)

var signInSummaries = map[string]string{
	AlertMFAGuessing:   "The right password was followed by repeated wrong second-step codes: someone may hold the account's password.",
	AlertLockout:       "An account's sign-in was locked after repeated failed attempts.",
	AlertLockoutSpread: "A locked account kept receiving failed sign-ins from several network addresses: someone may be keeping its holder out.",
}

// SignInAlert is an alert raised by the web sign-in. Ids and counts only.
type SignInAlert struct {
	Kind     string // AlertMFAGuessing, AlertLockout or AlertLockoutSpread
	Account  string // the account's id
	Count    int    // failures (or addresses) counted
	Limit    int
	Window   time.Duration
	Critical bool
}

// RaiseSignInAlert records a sign-in alert in the audit log and hands it
// to the clinic's alert channels (webhook, e-mail, syslog). It freezes
// nothing: a freeze on failed sign-ins would be one more lever to lock
// the holder out.
func (c *Clinic) RaiseSignInAlert(ctx context.Context, al SignInAlert) {
	if signInSummaries[al.Kind] == "" {
		return
	}
	now := c.now()
	ev := audit.Event{Time: now, ActorID: audit.ActorTripwire, ActorRole: "system", Action: audit.ActAlertPrefix + al.Kind,
		Entity: al.Account, Purpose: audit.PurposeSecurity, Outcome: audit.OutcomeSuccess}
	var idx int64
	err := c.db.ReadWrite(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		var err error
		idx, err = c.audit.AppendTx(tx, ev)
		return err
	})
	if c.trip == nil {
		return
	}
	if err != nil {
		c.trip.log.Error("sign-in alert not recorded", "kind", al.Kind, "err", err)
	}
	sev := alert.Warning
	if al.Critical {
		sev = alert.Critical
	}
	c.trip.log.Warn("sign-in alert", "kind", al.Kind, "severity", string(sev), "account", al.Account, "count", al.Count, "audit_index", idx)
	if n := c.trip.notifier.Load(); n != nil {
		id := make([]byte, 8)
		rand.Read(id)
		n.Send(alert.Alert{ID: hex.EncodeToString(id), Kind: al.Kind, Severity: sev, Account: al.Account, Summary: signInSummaries[al.Kind],
			Count: al.Count, Limit: al.Limit, Window: al.Window, At: now, AuditIndex: idx})
	}
}

// DeviceTTL is how long a browser that completed a sign-in stays known.
const DeviceTTL = 30 * 24 * time.Hour

func (c *Clinic) deviceAD(deviceID, userID, expires string) []byte {
	return seal.AD("hush device cookie v1", c.id, deviceID, userID, expires)
}

// DeviceToken returns the value of a known-device cookie for a browser
// that has just completed a sign-in to userID: a random id, the user id
// and an expiry, with a MAC under a KEK-derived key. It proves nothing
// about the person; it only lets that browser keep trying its own
// account while the account is locked against everyone else.
func (c *Clinic) DeviceToken(userID string) string {
	b := make([]byte, 16)
	rand.Read(b)
	dev := base64.RawURLEncoding.EncodeToString(b)
	exp := strconv.FormatInt(c.now().Add(DeviceTTL).Unix(), 10)
	mac := c.credMAC.MAC(c.deviceAD(dev, userID, exp))
	return strings.Join([]string{"d1", dev, userID, exp, base64.RawURLEncoding.EncodeToString(mac)}, ".")
}

// CheckDeviceToken verifies a known-device cookie's value and returns the
// account and device ids it names (ok false: forged, altered or expired).
func (c *Clinic) CheckDeviceToken(v string) (userID, deviceID string, ok bool) {
	p := strings.Split(v, ".")
	if len(v) > 256 || len(p) != 5 || p[0] != "d1" {
		return "", "", false
	}
	mac, err := base64.RawURLEncoding.DecodeString(p[4])
	if err != nil || !c.credMAC.VerifyMAC(c.deviceAD(p[1], p[2], p[3]), mac) {
		return "", "", false
	}
	exp, err := strconv.ParseInt(p[3], 10, 64)
	if err != nil || !c.now().Before(time.Unix(exp, 0)) {
		return "", "", false
	}
	return p[2], p[1], true
}
