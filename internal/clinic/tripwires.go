package clinic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hushepr/hush/internal/alert"
	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/store"
	"github.com/hushepr/hush/internal/tripwire"
)

// Exfiltration tripwires (docs/tripwires.md). Every read's audit events
// pass through the detector (internal/tripwire) before the data is
// released: logRead asks it how many of them may go. A critical alert
// freezes the account at once — its API token sessions and web sessions
// end and their unsealed keys are wiped — until an admin unfreezes it.
// Alerts, freezes and unfreezes are audit events, and the detector is fed
// only from audit events (live, and the last 30 days replayed at start),
// so what was detected can be proven from the log.

var errFrozen = hush.Errorf(hush.EFORBIDDEN, "this account is frozen after a security alert; an admin must review it before it works again")

// ErrFrozen reports whether err is the refusal of a frozen account.
func ErrFrozen(err error) bool { return errors.Is(err, errFrozen) }

// replayDays is how much of the log the detector reads at start-up: the
// baseline looks back 30 days.
const replayDays = 30

// tripwires is the clinic's detector and alert delivery.
type tripwires struct {
	det      *tripwire.Detector
	canaries atomic.Pointer[map[string]bool]
	notifier atomic.Pointer[alert.Notifier]
	postman  atomic.Pointer[alert.Postman] // e-mails account holders (holder.go)
	log      *slog.Logger

	mu       sync.Mutex
	onFreeze []func(userID string)
	frozeAt  sync.Map // user id -> time.Time this server froze the account

	// Canary planting (canary.go): the longest wait before a planned
	// canary is planted, the plantings waiting, and their stop.
	plantDelay atomic.Int64
	plants     sync.WaitGroup
	closing    chan struct{}
	closeOnce  sync.Once
}

// detectedActions are the audit actions the detector counts.
var detectedActions = []string{audit.ActChartRead, audit.ActNoteRead, audit.ActMeasureRead, audit.ActDiagnosisRead,
	audit.ActProcessNoteRead, audit.ActCareTeamRead, audit.ActPatientList, audit.ActPatientRead, audit.ActAppointmentList,
	audit.ActAuditRead}

// startTripwires loads the settings and canaries, starts the detector and
// replays the last 30 days of the log into it.
func (c *Clinic) startTripwires(ctx context.Context) error {
	s, err := c.loadSettings(ctx)
	if err != nil {
		return err
	}
	tw, err := s.tripwire()
	if err != nil {
		return err
	}
	c.trip = &tripwires{log: slog.Default(), closing: make(chan struct{})}
	c.trip.plantDelay.Store(int64(defaultPlantDelay))
	if err := c.loadCanaries(ctx); err != nil {
		return err
	}
	det, err := tripwire.New(tw, c.IsCanary)
	if err != nil {
		return err
	}
	c.trip.det = det
	if err := c.applySettings(s, tw); err != nil {
		return err
	}
	since := c.now().Add(-replayDays * 24 * time.Hour)
	return c.audit.Replay(ctx, since, append(detectedActions, audit.ActUnfreeze), func(ev audit.Event) {
		if ev.Action == audit.ActUnfreeze {
			det.Forget(ev.Entity)
			return
		}
		if ev.Outcome == audit.OutcomeSuccess {
			det.Observe([]tripwire.Event{tripEvent(ev)})
		}
	})
}

// applySettings hands new settings to the detector and the alert channels.
func (c *Clinic) applySettings(s Settings, tw tripwire.Settings) error {
	if c.trip == nil {
		return nil
	}
	if err := c.trip.det.SetSettings(tw); err != nil {
		return hush.Wrap(hush.EINVALID, "the tripwire settings are out of range", err)
	}
	cfg := s.alertConfig()
	cfg.Logger = c.trip.log
	cfg.WebhookClient = c.webhookClient
	var n *alert.Notifier
	if cfg.WebhookURL != "" || cfg.SMTPAddr != "" || cfg.Syslog {
		var err error
		if n, err = alert.New(cfg); err != nil {
			return hush.Wrap(hush.EINVALID, "the alert settings: "+hush.ErrorMessage(err), err)
		}
	}
	if old := c.trip.notifier.Swap(n); old != nil {
		go old.Close(context.Background()) // deliver what it holds, then stop
	}
	p, err := alert.NewPostman(cfg)
	if err != nil {
		return hush.Wrap(hush.EINVALID, "the alert settings: "+hush.ErrorMessage(err), err)
	}
	if old := c.trip.postman.Swap(p); old != nil {
		go old.Close(context.Background())
	}
	return nil
}

// OnFreeze registers fn to run when an account is frozen (the web app
// ends the account's browser sessions).
func (c *Clinic) OnFreeze(fn func(userID string)) {
	if c.trip == nil {
		return
	}
	c.trip.mu.Lock()
	c.trip.onFreeze = append(c.trip.onFreeze, fn)
	c.trip.mu.Unlock()
}

// SetAlertLog sets the operator log for alerts and their delivery
// failures (hush serve's log file), and restarts the channels with it.
func (c *Clinic) SetAlertLog(ctx context.Context, l *slog.Logger) error {
	if c.trip == nil {
		return nil
	}
	c.trip.log = l
	s, err := c.loadSettings(ctx)
	if err != nil {
		return err
	}
	tw, err := s.tripwire()
	if err != nil {
		return err
	}
	return c.applySettings(s, tw)
}

// SetWebhookClient sets the HTTP client alerts are posted with (tests pass
// one that trusts their receiver's certificate); it applies from the next
// UpdateSettings.
func (c *Clinic) SetWebhookClient(hc *http.Client) { c.webhookClient = hc }

// tripEvent is an audit event as the detector sees it. An identifier
// lookup (a search by identity code, hit or miss) counts as a directory
// row of its own, keyed by its random lookup id, so that trying codes one
// by one meets the directory limit like listing patients does.
func tripEvent(ev audit.Event) tripwire.Event {
	patient := ev.PatientID
	if ev.Action == audit.ActPatientList && strings.HasPrefix(ev.Entity, lookupPrefix) {
		patient = ev.Entity
	}
	return tripwire.Event{Time: ev.Time, Account: ev.ActorID, Role: ev.ActorRole, Patient: patient, Action: ev.Action,
		Credential: ev.Private.Credential, Addr: AddrKey(ev.Private.ClientAddr), Index: ev.Index}
}

// AddrKey groups client addresses as the throttles and the tripwires
// count them: an IPv4 address, or the /64 an IPv6 subscriber holds.
func AddrKey(a string) string {
	ip := net.ParseIP(a)
	if ip == nil || ip.To4() != nil {
		return a
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// guard asks the detector how many of a read's events may be released,
// marks the rest denied, and raises its alerts. Reads by the operator and
// unauthenticated requests have no account to count.
func (c *Clinic) guard(ctx context.Context, evs []audit.Event) int {
	if c.trip == nil || len(evs) == 0 {
		return len(evs)
	}
	a := hush.ActorFrom(ctx)
	if a == nil {
		return len(evs)
	}
	tes := make([]tripwire.Event, len(evs))
	for i, ev := range evs {
		tes[i] = tripEvent(ev)
	}
	d := c.trip.det.Admit(tes)
	if d.Allowed < len(evs) && len(d.Alerts) == 0 && c.unfrozenElsewhere(ctx, a.UserID) {
		// The detector still holds a freeze that an admin lifted from the
		// command line while this server ran: the audit log decides.
		c.trip.det.Forget(a.UserID)
		d = c.trip.det.Admit(tes)
	}
	for i := d.Allowed; i < len(evs); i++ {
		evs[i].Outcome = audit.OutcomeDenied
	}
	if len(d.Alerts) > 0 {
		c.raise(ctx, d.Alerts)
	}
	return d.Allowed
}

// guardWrite counts a write request (one that can answer a question about
// the directory, like a registration refused for a taken identity code)
// against its credential's request rate. It is refused only when the
// account is frozen or the rate is crossed.
func (c *Clinic) guardWrite(ctx context.Context, action string) error {
	ev := c.event(ctx, action, "", "", nil)
	if c.guard(ctx, []audit.Event{ev}) < 1 {
		c.logDenied(ctx, errFrozen, ev)
		return errFrozen
	}
	return nil
}

// unfrozenElsewhere reports whether the audit log holds an unfreeze of
// the account after this server froze it. Only an unfreeze event newer
// than the freeze counts: a request that meets the freeze while the
// freeze's own transaction is still committing must not lift it.
func (c *Clinic) unfrozenElsewhere(ctx context.Context, userID string) bool {
	v, ok := c.trip.frozeAt.Load(userID)
	if !ok || c.frozenInDB(ctx, userID) {
		return false
	}
	evs, err := c.audit.Search(ctx, store.AuditQuery{ActionPrefix: audit.ActUnfreeze, Since: v.(time.Time).UnixMilli(), Limit: 50})
	if err != nil {
		return false
	}
	for _, ev := range evs {
		if ev.Entity == userID {
			c.trip.frozeAt.Delete(userID)
			return true
		}
	}
	return false
}

// frozenInDB reads the account's stored freeze (true if it cannot tell).
func (c *Clinic) frozenInDB(ctx context.Context, userID string) bool {
	frozen := true
	c.db.Read(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByID(userID)
		if err == nil {
			frozen = u.FrozenAt.Valid || c.checkUser(u) != nil
		}
		return err
	})
	return frozen
}

// summaries are the fixed texts alerts carry (no personal data).
var summaries = map[tripwire.Kind]string{
	tripwire.KindCharts:    "An account opened more patient records than the clinic's limit allows in a short time.",
	tripwire.KindDirectory: "An account listed or looked up more patients than the clinic's limit allows in a short time.",
	tripwire.KindAudit:     "An account read audit log pages naming more patients than the clinic's limit allows in a short time.",
	tripwire.KindCanary:    "A canary record was opened. No real patient has it: someone is sweeping records.",
	tripwire.KindBaseline:  "An account opened far more records in an hour than in any hour of its last 30 days.",
	tripwire.KindOffHours:  "An account read patient data outside the clinic's working hours.",
	tripwire.KindNewAddr:   "A session or API token was used from a new network address.",
	tripwire.KindRate:      "A session or API token made requests faster than a person can.",
}

// raise records alerts in the audit log, freezes the accounts of critical
// ones (at once: sessions and tokens end, keys are wiped), and hands each
// alert to the clinic's channels.
func (c *Clinic) raise(ctx context.Context, alerts []tripwire.Alert) {
	for _, al := range alerts {
		idx, froze, err := c.recordAlert(ctx, al)
		if err != nil {
			c.trip.log.Error("tripwire alert not recorded", "kind", string(al.Kind), "err", err)
		}
		if al.Freeze {
			c.trip.frozeAt.Store(al.Account, al.At)
			c.endSessions(al.Account)
		}
		if froze {
			c.notifyHolder(ctx, al.Account, alert.Notice{Kind: alert.NoticeFrozen, At: al.At})
		}
		c.trip.log.Warn("tripwire alert", "kind", string(al.Kind), "severity", string(al.Severity), "account", al.Account, "frozen", froze, "audit_index", idx)
		if n := c.trip.notifier.Load(); n != nil {
			id := make([]byte, 8)
			rand.Read(id)
			n.Send(alert.Alert{ID: hex.EncodeToString(id), Kind: string(al.Kind), Severity: alert.Severity(al.Severity), Account: al.Account,
				Summary: summaries[al.Kind], Count: al.Count, Limit: al.Limit, Window: al.Window, At: al.At, Frozen: froze, AuditIndex: idx})
		}
	}
}

// recordAlert appends an alert's event and, for a freezing alert, freezes
// the account in the same transaction.
func (c *Clinic) recordAlert(ctx context.Context, al tripwire.Alert) (idx int64, froze bool, err error) {
	req := hush.RequestFrom(ctx)
	// A freeze always goes through, even when the state digest no longer
	// matches the file (then it is not resealed: the mismatch stays seen).
	err = c.freezeTx(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		ev := audit.Event{Time: c.now(), ActorID: audit.ActorTripwire, ActorRole: "system", Action: audit.ActAlertPrefix + string(al.Kind),
			Entity: al.Account, PatientID: al.Patient, Purpose: audit.PurposeSecurity, Outcome: audit.OutcomeSuccess, RequestID: req.ID}
		var err error
		if idx, err = c.audit.AppendTx(tx, ev); err != nil {
			return err
		}
		if !al.Freeze {
			return nil
		}
		// A row that fails its integrity check is frozen all the same, but
		// not stamped: stamping would bless what was changed.
		_, verr := c.verifiedUser(tx, al.Account)
		switch err := tx.FreezeUser(al.Account, c.now().UnixMilli()); {
		case isNotFound(err):
			return nil // already frozen, or gone
		case err != nil:
			return err
		}
		if verr == nil {
			if err := c.stampUser(tx, al.Account); err != nil {
				return err
			}
		}
		froze = true
		ev.Action = audit.ActFreeze
		_, err = c.audit.AppendTx(tx, ev)
		return err
	})
	return idx, froze, err
}

// endSessions ends every session of an account and wipes its keys.
func (c *Clinic) endSessions(userID string) {
	c.dropSessionsOf(userID)
	c.trip.mu.Lock()
	hooks := append([]func(string){}, c.trip.onFreeze...)
	c.trip.mu.Unlock()
	for _, fn := range hooks {
		fn(userID)
	}
}

// Unfreeze lifts a freeze after an admin's review. Admins only; audited.
func (c *Clinic) Unfreeze(ctx context.Context, userID string) error {
	if err := c.adminOnly(ctx); err != nil {
		return err
	}
	err := c.writeTx(ctx, func(tx *store.Tx) error {
		if err := c.changeUser(tx, userID, func() error { return tx.UnfreezeUser(userID) }); err != nil {
			return err
		}
		ev := c.event(ctx, audit.ActUnfreeze, "", userID, nil)
		ev.Purpose = audit.PurposeSecurity
		_, err := c.audit.AppendTx(tx, ev)
		return err
	})
	if c.trip != nil && (err == nil || isNotFound(err)) {
		// Also when the row was already clear (unfrozen from the command
		// line while this server ran): the detector lets go too, and the
		// freeze's time is gone, so a later freeze is never lifted by
		// this unfreeze.
		c.trip.frozeAt.Delete(userID)
		c.trip.det.Forget(userID)
	}
	return err
}

// FrozenAccount is an account a tripwire froze.
type FrozenAccount struct {
	User     hush.User
	FrozenAt time.Time
}

// FrozenAccounts lists the frozen accounts. Admins only.
func (c *Clinic) FrozenAccounts(ctx context.Context) ([]FrozenAccount, error) {
	if err := c.adminOnly(ctx); err != nil {
		return nil, err
	}
	var out []FrozenAccount
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Users()
		if err != nil {
			return err
		}
		for _, r := range rows {
			if !r.FrozenAt.Valid {
				continue
			}
			u, err := c.userFromRow(r)
			if err != nil {
				return err
			}
			out = append(out, FrozenAccount{User: u, FrozenAt: time.UnixMilli(r.FrozenAt.Int64).UTC()})
		}
		return nil
	})
	return out, err
}

// Alerts returns the newest tripwire alerts from the audit log (at most
// limit, before the given index when paging). Admins and auditors.
func (c *Clinic) Alerts(ctx context.Context, limit int, before int64) ([]AuditView, error) {
	return c.SearchAudit(ctx, AuditQuery{ActionPrefix: audit.ActAlertPrefix, Limit: limit, BeforeIndex: before})
}

// settingsChanged announces a change of the clinic settings on the alert
// channels in force before it (a warning; no freeze).
func (c *Clinic) settingsChanged(ctx context.Context) {
	if c.trip == nil {
		return
	}
	n := c.trip.notifier.Load()
	if n == nil {
		return
	}
	account := "operator"
	if a := hush.ActorFrom(ctx); a != nil {
		account = a.UserID
	}
	id := make([]byte, 8)
	rand.Read(id)
	n.Send(alert.Alert{ID: hex.EncodeToString(id), Kind: "settings.changed", Severity: alert.Warning, Account: account,
		Summary: "The clinic settings were changed: working hours, tripwire limits or where alerts go.", At: c.now()})
}

// closeTripwires delivers the alerts still queued.
func (c *Clinic) closeTripwires() {
	if c.trip == nil {
		return
	}
	c.trip.closeOnce.Do(func() { close(c.trip.closing) })
	c.trip.plants.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if n := c.trip.notifier.Swap(nil); n != nil {
		n.Close(ctx)
	}
	if p := c.trip.postman.Swap(nil); p != nil {
		p.Close(ctx)
	}
}
