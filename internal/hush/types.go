package hush

import (
	"context"
	"time"

	"github.com/hushepr/hush/internal/seal"
)

// Role is a staff role.
type Role string

// Staff roles.
const (
	RoleClinician Role = "clinician"
	RoleReception Role = "reception"
	RoleAdmin     Role = "admin"
	RoleAuditor   Role = "auditor"  // reads the audit log; no clinical content
	RolePatient   Role = "patient"  // a patient's own account (audit trail of their record)
	RoleOperator  Role = "operator" // a CLI user holding the KEK (audit only; not an account)
)

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleClinician, RoleReception, RoleAdmin, RoleAuditor, RolePatient:
		return r, nil
	}
	return "", Errorf(EINVALID, "role must be clinician, reception, admin, auditor or patient")
}

// User is a staff account. Name and Email are directory data, sealed at rest.
type User struct {
	ID        string
	Role      Role
	PatientID string // patient accounts: their own record
	Name      string
	Email     string
	Active    bool
	CreatedAt time.Time
}

// ContactPoint is a phone number or email address (FHIR ContactPoint).
type ContactPoint struct {
	System string `json:"system"` // phone | email
	Value  string `json:"value"`
	Use    string `json:"use,omitempty"`
}

// Guardian is a minor patient's guardian.
type Guardian struct {
	Name     string         `json:"name"`
	Relation string         `json:"relation,omitempty"`
	Telecom  []ContactPoint `json:"telecom,omitempty"`
}

// Patient is a person the clinic treats. Everything but ID and CreatedAt is
// directory data, sealed at rest with the clinic directory key.
type Patient struct {
	ID        string         `json:"-"`
	Family    string         `json:"family"`
	Given     []string       `json:"given,omitempty"`
	BirthDate string         `json:"birthDate"` // YYYY-MM-DD
	Gender    string         `json:"gender,omitempty"`
	HETU      string         `json:"hetu,omitempty"`
	Telecom   []ContactPoint `json:"telecom,omitempty"`
	Guardians []Guardian     `json:"guardians,omitempty"`
	CreatedAt time.Time      `json:"-"`
}

// NoteKind is the structure of a session note.
type NoteKind string

// Note kinds.
const (
	KindSOAP NoteKind = "SOAP"
	KindDAP  NoteKind = "DAP"
	KindBIRP NoteKind = "BIRP"
	KindFree NoteKind = "free"
)

// ParseNoteKind validates a note kind.
func ParseNoteKind(s string) (NoteKind, error) {
	switch k := NoteKind(s); k {
	case KindSOAP, KindDAP, KindBIRP, KindFree:
		return k, nil
	}
	return "", Errorf(EINVALID, "note type must be SOAP, DAP, BIRP or free")
}

// NoteStatus is where a note version stands: draft (preliminary), signed
// (final), or an amendment of a signed note (amended). FHIR docStatus codes.
type NoteStatus string

// Note statuses.
const (
	StatusDraft   NoteStatus = "preliminary"
	StatusSigned  NoteStatus = "final"
	StatusAmended NoteStatus = "amended"
)

// Locked reports whether a note in this status can no longer change in place.
func (s NoteStatus) Locked() bool { return s == StatusSigned || s == StatusAmended }

// Note is one version of a session note. Versions are never overwritten: a
// draft saved again, a signature and an amendment each add a version.
type Note struct {
	ID        string
	Version   int
	PatientID string
	AuthorID  string
	Kind      NoteKind
	Status    NoteStatus
	Title     string // clinical, sealed
	Text      string // clinical, sealed
	CreatedAt time.Time
}

// Actor is who makes a request: a user whose credential unlocked their
// private key (Key is nil for a CLI operator acting with the KEK only).
type Actor struct {
	UserID string
	Role   Role
	Key    *seal.PrivateKey
	// Session caches record seeds this actor opened, so a grant is opened
	// once per session rather than once per request. May be nil.
	Session *SeedCache
	// Credential names the web session or API token the actor came in
	// with ("token:ID", "web:ID"; never the secret itself), so the
	// tripwires can tell one stolen credential from its owner's others.
	Credential string
}

type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a *Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor in ctx, or nil.
func ActorFrom(ctx context.Context) *Actor {
	a, _ := ctx.Value(actorKey{}).(*Actor)
	return a
}

// Request describes where a request came from, for the audit log.
type Request struct {
	ID         string // random request id (also in the server log)
	ClientAddr string // personal data: sealed in the audit log, never logged in clear
}

type requestKey struct{}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the request in ctx (zero if none).
func RequestFrom(ctx context.Context) Request {
	r, _ := ctx.Value(requestKey{}).(Request)
	return r
}
