package clinic

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hushepr/hush/internal/alert"
	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

const (
	metaAuditVKey   = "audit_vkey"
	metaAuditSKey   = "audit_skey"
	metaAuditEscrow = "audit_key_escrow"
)

// auditOrigin is the checkpoint origin line (and the log key's name).
func auditOrigin(clinicID string) string { return "hush.local/clinic/" + clinicID }

// newAuditKey makes the log's Ed25519 signing key and the meta rows that
// keep it: the verifier key in clear, the signing key wrapped by the KEK and
// sealed to the recovery key.
func (c *Clinic) newAuditKey(kek *seal.KEK) ([]struct {
	k string
	v []byte
}, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, auditOrigin(c.id))
	if err != nil {
		return nil, err
	}
	wrap := kek.Derive("audit key wrap v1")
	defer wrap.Wipe()
	escrow, err := seal.SealToPublic(c.recoveryPub, seal.AD("hush audit key escrow v1", c.id), []byte(skey))
	if err != nil {
		return nil, err
	}
	return []struct {
		k string
		v []byte
	}{
		{metaAuditVKey, []byte(vkey)},
		{metaAuditSKey, wrap.Seal([]byte(skey), seal.AD("hush audit signing key v1", c.id))},
		{metaAuditEscrow, escrow},
	}, nil
}

// openAudit starts the audit log with the signing key the KEK unwraps.
func (c *Clinic) openAudit(ctx context.Context, kek *seal.KEK) error {
	wrap := kek.Derive("audit key wrap v1")
	defer wrap.Wipe()
	var skey, vkey []byte
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		v, err := tx.Meta(metaAuditVKey)
		if err != nil {
			return err
		}
		sealed, err := tx.Meta(metaAuditSKey)
		if err != nil {
			return err
		}
		vkey = v
		skey, err = wrap.Open(sealed, seal.AD("hush audit signing key v1", c.id))
		return err
	})
	if err != nil {
		return hush.Wrap(hush.EINTERNAL, "the audit log key does not open", err)
	}
	defer clear(skey)
	signer, err := note.NewSigner(string(skey))
	if err != nil {
		return err
	}
	verifier, err := note.NewVerifier(string(vkey))
	if err != nil {
		return err
	}
	c.auditVKey = string(vkey)
	c.audit = audit.New(c.db, audit.Options{Origin: auditOrigin(c.id), Signer: signer, Verifier: verifier, Private: c.dirKey,
		HeadKey: kek.Derive("audit head mac v1"), FreeSpace: c.freeSpace()})
	c.audit.OnAlert = c.auditAlert
	c.appendRead = c.audit.Append
	return nil
}

// auditSummaries are the fixed texts of the audit log's alerts (the
// detail, with sizes and witness names, stays in the operator log and the
// audit_alerts table).
var auditSummaries = map[string]string{
	"audit.tampered":      "The record of the audit log's last signed checkpoint is missing or forged: the log may have been rewritten. Run hush audit verify with the witnesses.",
	"audit.truncated":     "The audit log holds fewer events than were signed: events were removed. Run hush audit verify with the witnesses.",
	"audit.rewritten":     "The audit log no longer matches its last signed checkpoint: events were rewritten. Run hush audit verify with the witnesses.",
	"audit.space":         "The data directory is nearly full: unauthenticated failures are no longer logged, and reads stop when it is full.",
	"witness.refused":     "A witness refused the audit log's checkpoint: the log may have been rewritten or forked.",
	"witness.ahead":       "A witness has seen more of the audit log than it now holds: the log was cut short or rolled back.",
	"witness.unreachable": "A witness could not be reached: checkpoints are not being witnessed.",
	"witness.integrity":   "A configured witness's stored URL or key was changed outside Hush: checkpoints are not sent to it until it is reviewed.",
}

// auditAlert hands an alert of the audit log (audit.*, witness.*) to the
// operator log and the clinic's remote channels: its own table lies in the
// data directory that whoever cut the log controls.
func (c *Clinic) auditAlert(kind, detail string) {
	sev := alert.Critical
	if kind == "witness.unreachable" {
		sev = alert.Warning
	}
	summary, ok := auditSummaries[kind]
	if !ok {
		summary = "The audit log raised an alert; see the operator log."
	}
	if c.trip == nil {
		slog.Error("audit alert", "kind", kind, "detail", detail)
		return
	}
	c.trip.log.Error("audit alert", "kind", kind, "detail", detail)
	if n := c.trip.notifier.Load(); n != nil {
		n.Send(alert.Alert{Kind: kind, Severity: sev, Account: "audit-log", Summary: summary, At: c.now()})
	}
}

// Audit returns the clinic's audit log.
func (c *Clinic) Audit() *audit.Log { return c.audit }

// AuditVerifierKey returns the log's public key (note verifier key).
func (c *Clinic) AuditVerifierKey() string { return c.auditVKey }

// AuditVerifierKeyOf reads the log's public key from a database without the
// KEK: verification needs nothing else.
func AuditVerifierKeyOf(ctx context.Context, db *store.DB) (string, error) {
	var vkey []byte
	err := db.Read(ctx, func(tx *store.Tx) error {
		var err error
		vkey, err = tx.Meta(metaAuditVKey)
		return err
	})
	return string(vkey), err
}

func purposeOf(r hush.Role) string {
	switch r {
	case hush.RoleClinician:
		return audit.PurposeTreatment
	case hush.RoleAuditor:
		return audit.PurposeAudit
	case hush.RolePatient:
		return audit.PurposePatientAccess
	}
	return audit.PurposeAdministration
}

func outcomeOf(err error) string {
	if err == nil {
		return audit.OutcomeSuccess
	}
	switch hush.ErrorCode(err) {
	case hush.EFORBIDDEN, hush.EUNAUTHORIZED:
		return audit.OutcomeDenied
	}
	return audit.OutcomeFailed
}

// event builds an audit event for the actor in ctx (or the operator).
func (c *Clinic) event(ctx context.Context, action, patientID, entity string, err error) audit.Event {
	req := hush.RequestFrom(ctx)
	ev := audit.Event{Time: c.now(), Action: action, PatientID: patientID, Entity: entity, Outcome: outcomeOf(err),
		RequestID: req.ID, Private: audit.Private{ClientAddr: req.ClientAddr}}
	if a := hush.ActorFrom(ctx); a != nil {
		ev.ActorID, ev.ActorRole, ev.Purpose = a.UserID, string(a.Role), purposeOf(a.Role)
		ev.Private.Credential = a.Credential
	} else {
		ev.ActorID, ev.ActorRole, ev.Purpose = "operator", string(hush.RoleOperator), audit.PurposeAdministration
	}
	return ev
}

// logRead appends read events and returns err, or the audit failure when
// the read itself succeeded: a read whose event cannot be made durable is
// refused (fail closed).
func (c *Clinic) logRead(ctx context.Context, err error, evs ...audit.Event) error {
	// The tripwires decide first (their refusals are logged as denied);
	// a read they cut short releases nothing.
	allowed := c.guard(ctx, evs)
	aerr := c.appendRead(ctx, evs...)
	if allowed < len(evs) {
		return errFrozen
	}
	if err != nil {
		return err
	}
	return aerr
}

// logDenied records a refused or failed write (best effort: the refusal
// stands whether or not its event is written).
func (c *Clinic) logDenied(ctx context.Context, err error, ev audit.Event) error {
	if err != nil {
		c.audit.Append(ctx, ev)
	}
	return err
}

// AuditView is an audit event as shown to a reader, names resolved at
// display time.
type AuditView struct {
	audit.Event
	ActorName string
	// Sealed is set when the event has private parts (a client address,
	// a search term, an unknown sign-in name) that stay sealed for this
	// reader: only the operator, holding the KEK at the command line
	// (hush audit show), sees them.
	Sealed bool
}

// AuditQuery selects events for SearchAudit.
type AuditQuery struct {
	PatientID    string
	ActionPrefix string
	ActorID      string
	Since        time.Time
	Until        time.Time
	Limit        int
	BeforeIndex  int64
}

// MaxAuditPage caps one page of audit events.
const MaxAuditPage = 200

// SearchAudit returns audit events, newest first. Admins and auditors see
// every event; a patient sees the events of their own record (who, in which
// role, did what and when), which is their right under the GDPR and Finnish
// law. Other roles are refused. The search itself is an audit event.
func (c *Clinic) SearchAudit(ctx context.Context, q AuditQuery) ([]AuditView, error) {
	a := hush.ActorFrom(ctx)
	if a == nil {
		a = &hush.Actor{Role: hush.RoleOperator} // a KEK holder at the command line
	}
	switch a.Role {
	case hush.RoleOperator:
	case hush.RoleAdmin, hush.RoleAuditor:
	case hush.RolePatient:
		self, err := c.patientOf(ctx, a.UserID)
		if err != nil {
			return nil, err
		}
		if q.PatientID != "" && q.PatientID != self {
			return nil, c.logRead(ctx, errNotYours, c.event(ctx, audit.ActAuditRead, q.PatientID, "", errNotYours))
		}
		q.PatientID, q.ActorID = self, ""
	default:
		err := hush.Errorf(hush.EFORBIDDEN, "only admins, auditors and the patient may read the audit log")
		return nil, c.logRead(ctx, err, c.event(ctx, audit.ActAuditRead, q.PatientID, "", err))
	}
	if q.Limit <= 0 || q.Limit > MaxAuditPage {
		q.Limit = MaxAuditPage
	}
	sq := store.AuditQuery{PatientID: q.PatientID, ActionPrefix: q.ActionPrefix, ActorID: q.ActorID, Limit: q.Limit, BeforeIndex: q.BeforeIndex}
	if !q.Since.IsZero() {
		sq.Since = q.Since.UnixMilli()
	}
	if !q.Until.IsZero() {
		sq.Until = q.Until.UnixMilli()
	}
	evs, err := c.audit.Search(ctx, sq)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	out := make([]AuditView, 0, len(evs))
	for _, ev := range evs {
		v := AuditView{Event: ev}
		if name, ok := names[ev.ActorID]; ok {
			v.ActorName = name
		} else if u, err := c.user(ctx, ev.ActorID); err == nil {
			v.ActorName, names[ev.ActorID] = u.Name, u.Name
		}
		switch a.Role {
		case hush.RoleOperator:
		case hush.RolePatient:
			// A patient sees who and when, not the clinic's internals.
			v.RequestID, v.Private, v.Entity = "", audit.Private{}, ""
		default:
			// Search terms (every name and identity code staff typed,
			// beside the ids they matched), client addresses and
			// unknown sign-in names are personal data sealed under the
			// directory key: they are opened for the KEK holder only
			// (docs/audit.md), never over the API or the admin pages.
			p := v.Private
			v.Private = audit.Private{Credential: p.Credential}
			v.Sealed = p.ClientAddr != "" || p.Query != "" || p.Email != ""
		}
		out = append(out, v)
	}
	if err := c.logRead(ctx, nil, c.auditReadEvents(ctx, a.Role, q.PatientID, out)...); err != nil {
		return nil, err
	}
	return out, nil
}

// auditReadEvents are the events of one read of the audit log. A page of
// the log read by staff names patients — and who treats them — so it is
// one audit.read event per distinct patient it names (the one asked for
// first), which the tripwires count toward their audit limit
// (volume.audit) as they count a listing's rows. A patient reading the
// trail of their own record, or an empty page, is one event.
func (c *Clinic) auditReadEvents(ctx context.Context, role hush.Role, asked string, page []AuditView) []audit.Event {
	if role == hush.RolePatient {
		return []audit.Event{c.event(ctx, audit.ActAuditRead, asked, "", nil)}
	}
	var evs []audit.Event
	seen := map[string]bool{}
	add := func(pid string) {
		if pid == "" || seen[pid] {
			return
		}
		seen[pid] = true
		evs = append(evs, c.event(ctx, audit.ActAuditRead, pid, "", nil))
	}
	add(asked)
	for _, v := range page {
		add(v.PatientID)
	}
	if len(evs) == 0 {
		evs = append(evs, c.event(ctx, audit.ActAuditRead, "", "", nil))
	}
	return evs
}

var errNotYours = hush.Errorf(hush.EFORBIDDEN, "you can see the audit trail of your own record only")

func (c *Clinic) patientOf(ctx context.Context, userID string) (string, error) {
	var pid string
	err := c.db.Read(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByID(userID)
		pid = u.PatientID
		return err
	})
	if err == nil && pid == "" {
		err = errors.New("patient account without a record")
	}
	return pid, err
}

// isStaff reports whether a role works at the clinic (directory access).
func isStaff(r hush.Role) bool {
	switch r {
	case hush.RoleClinician, hush.RoleReception, hush.RoleAdmin, hush.RoleAuditor:
		return true
	}
	return false
}

var errStaffOnly = hush.Errorf(hush.EFORBIDDEN, "only clinic staff can do this")

// staff returns the actor if it is staff.
func staff(ctx context.Context) (*hush.Actor, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if !isStaff(a.Role) {
		return nil, errStaffOnly
	}
	return a, nil
}

// DisplayName returns a patient's name for an audit display ("" if
// unknown). It reads the in-memory directory; the display itself is
// audited as the audit.read that fetched the events.
func (c *Clinic) DisplayName(ctx context.Context, patientID string) string {
	p, ok := c.dir.get(patientID)
	if !ok {
		if c.dir.refresh(ctx) != nil {
			return ""
		}
		if p, ok = c.dir.get(patientID); !ok {
			return ""
		}
	}
	if len(p.Given) > 0 {
		return p.Given[0] + " " + p.Family
	}
	return p.Family
}

// freeSpace returns the reader of the data directory's free space that
// the audit log watches (nil when there is no data directory).
func (c *Clinic) freeSpace() func() (uint64, error) {
	if c.dataDir == "" {
		return nil
	}
	return freeSpace(c.dataDir)
}
