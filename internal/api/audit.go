package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
)

// AuditActionSystem is the code system of Hush audit actions.
const AuditActionSystem = "urn:hush:audit-action"

type auditAgent struct {
	Type      *codeableConcept `json:"type,omitempty"`
	Who       *reference       `json:"who,omitempty"`
	Requestor bool             `json:"requestor"`
}

type auditEntity struct {
	What *reference       `json:"what,omitempty"`
	Type *coding          `json:"type,omitempty"`
	Role *coding          `json:"role,omitempty"`
	Name string           `json:"name,omitempty"`
	Desc string           `json:"description,omitempty"`
	Qry  string           `json:"query,omitempty"`
	Det  []map[string]any `json:"detail,omitempty"`
}

type auditSource struct {
	Observer reference `json:"observer"`
}

type auditEventResource struct {
	ResourceType   string            `json:"resourceType"`
	ID             string            `json:"id"`
	Type           coding            `json:"type"`
	Action         string            `json:"action,omitempty"`
	Recorded       string            `json:"recorded"`
	Outcome        string            `json:"outcome"`
	OutcomeDesc    string            `json:"outcomeDesc,omitempty"`
	PurposeOfEvent []codeableConcept `json:"purposeOfEvent,omitempty"`
	Agent          []auditAgent      `json:"agent"`
	Source         auditSource       `json:"source"`
	Entity         []auditEntity     `json:"entity,omitempty"`
}

var purposeCodes = map[string]string{
	audit.PurposeTreatment:      "TREAT",
	audit.PurposeAdministration: "HOPERAT",
	audit.PurposeRecovery:       "HSYSADMIN",
	audit.PurposeSecurity:       "HSYSADMIN",
	audit.PurposeAudit:          "HCOMPL",
	audit.PurposePatientAccess:  "PATRQT",
}

func actionCode(action string) string {
	switch {
	case strings.HasSuffix(action, ".read"), strings.HasSuffix(action, ".list"):
		return "R"
	case strings.HasSuffix(action, ".create"), action == audit.ActGrant, action == audit.ActRecoveryGrant, action == audit.ActUserAdd:
		return "C"
	case action == audit.ActRevoke, action == audit.ActTokenRevoke, action == audit.ActTokenErase, action == audit.ActUserDeactivate:
		return "D"
	case action == audit.ActLogin, action == audit.ActLoginFailed, action == audit.ActTokenRejected, action == audit.ActBackup:
		return "E"
	}
	return "U"
}

func fromAudit(v clinic.AuditView) auditEventResource {
	outcome := map[string]string{audit.OutcomeSuccess: "0", audit.OutcomeDenied: "4", audit.OutcomeFailed: "8"}[v.Outcome]
	who := &reference{Display: v.ActorName}
	switch v.ActorRole {
	case string(hush.RolePatient):
		// A patient account: never name it or point at the record the event
		// is about (that may be another patient's).
		who.Display = "a patient account"
	case "operator", "":
		if v.ActorName == "" {
			who.Display = map[string]string{"operator": "clinic operator (command line)", "recovery": "recovery key holders", "": "unknown"}[v.ActorID]
		}
	default:
		who.Reference = "Practitioner/" + v.ActorID
	}
	// Client addresses and search terms stay sealed here: the clinic
	// withholds them from every reader but the KEK holder (AuditView.Sealed).
	agent := auditAgent{Type: &codeableConcept{Text: v.ActorRole}, Who: who, Requestor: true}
	e := auditEventResource{
		ResourceType:   "AuditEvent",
		ID:             strconv.FormatInt(v.Index, 10),
		Type:           coding{System: AuditActionSystem, Code: v.Action},
		Action:         actionCode(v.Action),
		Recorded:       fhirTime(v.Time),
		Outcome:        outcome,
		OutcomeDesc:    v.Outcome,
		PurposeOfEvent: []codeableConcept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/v3-ActReason", Code: purposeCodes[v.Purpose]}}, Text: v.Purpose}},
		Agent:          []auditAgent{agent},
		Source:         auditSource{Observer: reference{Display: "Hush"}},
	}
	if v.PatientID != "" {
		e.Entity = append(e.Entity, auditEntity{What: &reference{Reference: "Patient/" + v.PatientID}})
	}
	if v.Entity != "" {
		ref := v.Entity
		if !strings.Contains(ref, "/") {
			ref = ""
		}
		e.Entity = append(e.Entity, auditEntity{What: &reference{Reference: ref, Display: v.Entity}})
	}
	if v.Count > 1 {
		// One event standing for a burst (unauthenticated failures).
		e.Entity = append(e.Entity, auditEntity{Desc: "occurrences", Name: strconv.FormatInt(v.Count, 10)})
	}
	if v.Sealed {
		e.Entity = append(e.Entity, auditEntity{Desc: "private details", Name: "sealed"})
	}
	if v.RequestID != "" {
		e.Entity = append(e.Entity, auditEntity{Desc: "request id", Name: v.RequestID})
	}
	return e
}

// parseDate accepts a FHIR date search value: an optional prefix (eq, ge,
// gt, le, lt) and a date (YYYY-MM-DD) or instant (RFC 3339). It narrows q.
func parseDate(v string, q *clinic.AuditQuery) error {
	prefix := "eq"
	if len(v) > 2 && v[0] >= 'a' && v[0] <= 'z' {
		prefix, v = v[:2], v[2:]
	}
	var start, end time.Time
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		start, end = t, t.AddDate(0, 0, 1)
	} else if t, err := time.Parse(time.RFC3339, v); err == nil {
		start, end = t, t.Add(time.Millisecond)
	} else {
		return hush.Errorf(hush.EINVALID, "date must be YYYY-MM-DD or an RFC 3339 time, optionally after ge, gt, le, lt or eq")
	}
	later := func(a, b time.Time) time.Time {
		if a.After(b) {
			return a
		}
		return b
	}
	earlier := func(a, b time.Time) time.Time {
		if b.IsZero() || a.Before(b) {
			return a
		}
		return b
	}
	switch prefix {
	case "eq":
		q.Since, q.Until = later(start, q.Since), earlier(end, q.Until)
	case "ge":
		q.Since = later(start, q.Since)
	case "gt":
		q.Since = later(end, q.Since)
	case "le":
		q.Until = earlier(end, q.Until)
	case "lt":
		q.Until = earlier(start, q.Until)
	default:
		return hush.Errorf(hush.EINVALID, "date prefix must be eq, ge, gt, le or lt")
	}
	return nil
}

// searchAuditEvents serves AuditEvent?patient=&agent=&date=&_count=&_before=.
func (s *Server) searchAuditEvents(w http.ResponseWriter, r *http.Request) error {
	vals := r.URL.Query()
	var q clinic.AuditQuery
	for k, vs := range vals {
		switch k {
		case "patient", "entity":
			id, err := refID(withType(vs[0], "Patient"), "Patient")
			if err != nil {
				return err
			}
			q.PatientID = id
		case "agent":
			ref := vs[0]
			if !strings.Contains(ref, "/") {
				ref = "Practitioner/" + ref
			}
			typ, _, _ := strings.Cut(ref, "/")
			id, err := refID(ref, typ)
			if err != nil || (typ != "Practitioner" && typ != "Patient") {
				return hush.Errorf(hush.EINVALID, "agent must be Practitioner/<id>")
			}
			q.ActorID = id
		case "date":
			for _, v := range vs {
				if err := parseDate(v, &q); err != nil {
					return err
				}
			}
		case "_count":
			n, err := strconv.Atoi(vs[0])
			if err != nil || n < 1 {
				return hush.Errorf(hush.EINVALID, "_count must be a positive number")
			}
			q.Limit = n
		case "_before":
			n, err := strconv.ParseInt(vs[0], 10, 64)
			if err != nil || n < 1 {
				return hush.Errorf(hush.EINVALID, "_before must be a positive event index")
			}
			q.BeforeIndex = n
		default:
			return hush.Errorf(hush.EINVALID, "unsupported search parameter (use patient, agent, date, _count)")
		}
	}
	evs, err := s.c.SearchAudit(r.Context(), q)
	if err != nil {
		return err
	}
	res, ids := make([]any, len(evs)), make([]string, len(evs))
	for i, ev := range evs {
		res[i], ids[i] = fromAudit(ev), strconv.FormatInt(ev.Index, 10)
	}
	b := searchset("AuditEvent", res, ids)
	limit := q.Limit
	if limit <= 0 || limit > clinic.MaxAuditPage {
		limit = clinic.MaxAuditPage
	}
	if len(evs) == limit {
		next := url.Values{}
		for k, v := range vals {
			if k != "_before" {
				next[k] = v
			}
		}
		next.Set("_before", strconv.FormatInt(evs[len(evs)-1].Index, 10))
		b.Link = []bundleLink{{Relation: "next", URL: "AuditEvent?" + next.Encode()}}
	}
	return writeJSON(w, http.StatusOK, b)
}

func withType(ref, typ string) string {
	if strings.Contains(ref, "/") {
		return ref
	}
	return typ + "/" + ref
}
