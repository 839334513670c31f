// Package audit is Hush's tamper-evident audit log: every access to patient
// data is an event, every event is a leaf of an RFC 6962 Merkle tree
// (golang.org/x/mod/sumdb/tlog), and the tree's head is signed as a C2SP
// tlog-checkpoint (golang.org/x/mod/sumdb/note, Ed25519) and sent to the
// witnesses the clinic configured, whose cosignatures are kept.
//
// # No action without its event, no event lost
//
// A write appends its event in the same transaction (AppendTx). A read
// appends its event through Append, which returns only once the event is
// durable; the caller returns data only then, so if the log cannot be
// written the read is refused. Concurrent Appends share one transaction and
// one fsync (group commit).
//
// # What verification proves
//
// Verify recomputes the tree from the stored events and checks it against
// the stored hashes, every signed checkpoint, every witness cosignature and,
// when given, a checkpoint an auditor kept elsewhere. See docs/audit.md.
package audit

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/hushepr/hush/internal/seal"
)

// Actions. Reads end in .read or .list; writes name what changed.
const (
	ActPatientCreate     = "patient.create"
	ActPatientUpdate     = "patient.update"
	ActPatientRead       = "patient.read"
	ActPatientList       = "patient.list" // a search result listed the patient
	ActChartRead         = "chart.read"
	ActNoteRead          = "note.read"
	ActNoteCreate        = "note.create"
	ActNoteSave          = "note.save" // a draft saved again
	ActNoteSign          = "note.sign"
	ActNoteAmend         = "note.amend"
	ActProcessNoteAdd    = "processnote.create"
	ActProcessNoteRead   = "processnote.read"
	ActMeasureAdd        = "measure.create"
	ActMeasureRead       = "measure.read"
	ActDiagnosisAdd      = "diagnosis.create"
	ActDiagnosisRead     = "diagnosis.read"
	ActCareTeamRead      = "careteam.read"
	ActAppointmentBook   = "appointment.book"
	ActAppointmentMove   = "appointment.move"
	ActAppointmentCancel = "appointment.cancel"
	ActAppointmentNoShow = "appointment.noshow"
	ActAppointmentList   = "appointment.list" // a calendar listed the appointment (and its patient)
	ActGrant             = "careteam.grant"
	ActCareTeamRequest   = "careteam.request"
	ActRevoke            = "careteam.revoke"
	ActRekey             = "record.rekey"
	ActRecoveryGrant     = "recovery.grant"
	ActLogin             = "login"
	ActLoginFailed       = "login.failed"
	ActMFA               = "login.mfa"  // a second factor checked
	ActMFAEnroll         = "mfa.enroll" // a TOTP second factor enrolled
	ActMFAReset          = "mfa.reset"  // an admin removed the second factors; a new enrolment code was issued
	ActEnrolCodeIssue    = "enrol.code.issue"
	ActEnrolCodeUse      = "enrol.code.use"     // success: spent at enrolment; denied: a wrong or used code
	ActEnrolCodeExpired  = "enrol.code.expired" // refused: the right code, too late
	ActSecurityKeyAdd    = "mfa.securitykey.add"
	ActSecurityKeyRemove = "mfa.securitykey.remove"
	ActTokenCreate       = "token.create"
	ActTokenRevoke       = "token.revoke"
	ActTokenRejected     = "token.rejected"
	ActTokenErase        = "token.erase" // an expired or revoked token's sealed key erased (Entity: token id)
	ActTokenWrap         = "token.wrap"  // a token's sealed key from before the KEK wrap wrapped at open
	ActUserAdd           = "user.add"
	ActUserDeactivate    = "user.deactivate"
	ActUserRekey         = "user.rekey" // password and key pair replaced
	ActBackup            = "backup"
	ActAuditRead         = "audit.read"
	ActWitnessAdd        = "witness.add"
	ActSettingsUpdate    = "settings.update"
	ActCanaryAdd         = "canary.add"
	// ActIntegrityUpgrade records that the clinic's security state was
	// stamped with its integrity MACs (once, at the first open after the
	// upgrade): from then on an unstamped row is tampering.
	ActIntegrityUpgrade = "integrity.upgrade"
	// ActStateAnchor anchors a change of security state in the log: Entity
	// is "user:<id>:<generation>" or "record:<patient id>:<generation>".
	// At start the server checks that no row is older than its newest
	// anchor, so a row put back from an old copy (with its then-valid MAC)
	// is noticed unless the log itself is cut, which the witnesses see.
	ActStateAnchor = "integrity.state"
	ActFreeze      = "account.freeze"   // a tripwire froze the account (Entity)
	ActUnfreeze    = "account.unfreeze" // an admin lifted the freeze
	// ActAlertPrefix starts a tripwire alert's action: "alert." + its kind,
	// such as alert.volume.charts; Entity is the account, PatientID the
	// canary for alert.canary.
	ActAlertPrefix = "alert."
)

// ActorTripwire is the actor of alerts and freezes: the server's detectors.
const ActorTripwire = "tripwire"

// ActorSystem is the actor of the server's own upkeep, such as erasing the
// sealed keys of expired tokens.
const ActorSystem = "system"

// Purposes of use.
const (
	PurposeTreatment      = "treatment"
	PurposeAdministration = "administration"
	PurposeRecovery       = "recovery"
	PurposeAudit          = "audit"
	PurposeSecurity       = "security"
	PurposePatientAccess  = "patient-access"
)

// Outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeDenied  = "denied"
	OutcomeFailed  = "failed"
)

// Private holds the parts of an event that are personal data: sealed under
// the clinic directory key before hashing, so the tree and its proofs carry
// only ciphertext.
type Private struct {
	ClientAddr string `json:"client_addr,omitempty"`
	Query      string `json:"query,omitempty"` // a search term
	Email      string `json:"email,omitempty"` // an unknown sign-in name
	Credential string `json:"cred,omitempty"`  // the session or token used (its id, not its secret)
}

func (p Private) empty() bool { return p == Private{} }

// Event is one audit event. It carries ids, never content.
type Event struct {
	Index     int64 // set when appended
	Time      time.Time
	ActorID   string // user id, "operator" (a CLI user holding the KEK), "recovery" or "" (unknown)
	ActorRole string
	PatientID string // "" when the event concerns no patient
	Action    string
	Entity    string // the object acted on (note id, token id, user id), if any
	Purpose   string
	Outcome   string
	RequestID string
	// Count, when above 1, is how many occurrences this one event stands
	// for: unauthenticated failures are logged once per burst, then as one
	// event with the count of the rest.
	Count   int64
	Private Private
}

// record is the exact shape that is hashed into the tree.
type record struct {
	V       int    `json:"v"`
	Time    int64  `json:"time"`
	Actor   string `json:"actor"`
	Role    string `json:"role"`
	Patient string `json:"patient,omitempty"`
	Action  string `json:"action"`
	Entity  string `json:"entity,omitempty"`
	Purpose string `json:"purpose"`
	Outcome string `json:"outcome"`
	Request string `json:"request,omitempty"`
	Count   int64  `json:"count,omitempty"`
	Private []byte `json:"private,omitempty"`
}

func privateAD(origin string, r *record) []byte {
	if r.Count != 0 {
		// Aggregate events bind their count too (records without one keep
		// the associated data they were sealed with).
		return seal.AD("hush audit private v1", origin, strconv.FormatInt(r.Time, 10), r.Request, r.Actor, r.Action, r.Patient, r.Entity,
			"count", strconv.FormatInt(r.Count, 10))
	}
	return seal.AD("hush audit private v1", origin, strconv.FormatInt(r.Time, 10), r.Request, r.Actor, r.Action, r.Patient, r.Entity)
}

// encode returns the record bytes for ev, sealing its private part.
func encode(ev Event, origin string, key *seal.Key) ([]byte, error) {
	if ev.Action == "" || ev.Outcome == "" || ev.Purpose == "" {
		return nil, errors.New("audit: event needs an action, a purpose and an outcome")
	}
	r := record{V: 1, Time: ev.Time.UnixMilli(), Actor: ev.ActorID, Role: ev.ActorRole, Patient: ev.PatientID, Action: ev.Action,
		Entity: ev.Entity, Purpose: ev.Purpose, Outcome: ev.Outcome, Request: ev.RequestID, Count: ev.Count}
	if !ev.Private.empty() {
		if key == nil {
			return nil, errors.New("audit: no key to seal the event's private part")
		}
		b, _ := json.Marshal(ev.Private)
		r.Private = key.Seal(b, privateAD(origin, &r))
		clear(b)
	}
	return json.Marshal(r)
}

// decode parses record bytes; key, when not nil, opens the private part.
func decode(idx int64, b []byte, origin string, key *seal.Key) (Event, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil || r.V != 1 {
		return Event{}, errors.New("not an audit record")
	}
	ev := Event{Index: idx, Time: time.UnixMilli(r.Time).UTC(), ActorID: r.Actor, ActorRole: r.Role, PatientID: r.Patient, Action: r.Action,
		Entity: r.Entity, Purpose: r.Purpose, Outcome: r.Outcome, RequestID: r.Request, Count: r.Count}
	if key != nil && len(r.Private) > 0 {
		pb, err := key.Open(r.Private, privateAD(origin, &r))
		if err != nil {
			return Event{}, errors.New("the private part of an audit record does not open")
		}
		json.Unmarshal(pb, &ev.Private)
		clear(pb)
	}
	return ev, nil
}
