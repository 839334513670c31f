package api

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hetu"
	"github.com/hushepr/hush/internal/hush"
)

func pathID(r *http.Request, name string) (string, error) {
	id := r.PathValue(name)
	if !validID(id) {
		return "", hush.Errorf(hush.EINVALID, "malformed id")
	}
	return id, nil
}

func (s *Server) createPatient(w http.ResponseWriter, r *http.Request) error {
	var in patientResource
	if err := decode(r.Body, "Patient", &in); err != nil {
		return err
	}
	p, clinicians, err := toPatient(in)
	if err != nil {
		return err
	}
	p, err = s.c.CreatePatient(r.Context(), p, clinicians)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/fhir/R4/Patient/"+p.ID+"/_history/1")
	return writeJSON(w, http.StatusCreated, fromPatient(p))
}

func (s *Server) readPatient(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := s.c.Patient(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, fromPatient(p))
}

// searchPatients supports name (prefix of any name word) and identifier
// (system|value or value, exact).
func (s *Server) searchPatients(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "name", "identifier", "_count":
		default:
			return hush.Errorf(hush.EINVALID, "unsupported search parameter (use name or identifier)")
		}
	}
	pq := clinic.PatientQuery{Name: q.Get("name")}
	if ident := q.Get("identifier"); ident != "" {
		if sys, val, ok := strings.Cut(ident, "|"); ok {
			if sys != hetu.System {
				return hush.Errorf(hush.EINVALID, "identifier system must be %s", hetu.System)
			}
			ident = val
		}
		pq.Identifier = ident
	}
	ps, err := s.c.SearchPatients(r.Context(), pq)
	if err != nil {
		return err
	}
	res, ids := make([]any, len(ps)), make([]string, len(ps))
	for i, p := range ps {
		res[i], ids[i] = listedPatient(p), p.ID
	}
	return writeJSON(w, http.StatusOK, searchset("Patient", res, ids))
}

func (s *Server) readPractitioner(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	u, err := s.c.User(r.Context(), id)
	if hush.ErrorCode(err) == hush.ENOTFOUND {
		return hush.Errorf(hush.ENOTFOUND, "practitioner not found")
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, fromUser(u))
}

func (s *Server) searchPractitioners(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for k := range q {
		if k != "name" && k != "_count" {
			return hush.Errorf(hush.EINVALID, "unsupported search parameter (use name)")
		}
	}
	us, err := s.c.Users(r.Context(), q.Get("name"))
	if err != nil {
		return err
	}
	res, ids := make([]any, len(us)), make([]string, len(us))
	for i, u := range us {
		res[i], ids[i] = fromUser(u), u.ID
	}
	return writeJSON(w, http.StatusOK, searchset("Practitioner", res, ids))
}

func noteInput(in documentReference) (clinic.NoteInput, error) {
	var out clinic.NoteInput
	if in.Status != "" && in.Status != "current" {
		return out, hush.Errorf(hush.EINVALID, "status must be current")
	}
	out.Status = hush.NoteStatus(in.DocStatus)
	switch out.Status {
	case hush.StatusDraft, hush.StatusSigned, hush.StatusAmended:
	default:
		return out, hush.Errorf(hush.EINVALID, "docStatus must be preliminary, final or amended")
	}
	if in.Type == nil || len(in.Type.Coding) != 1 || in.Type.Coding[0].System != NoteTypeSystem {
		return out, hush.Errorf(hush.EINVALID, "type must have one coding with system %s (SOAP, DAP, BIRP or free)", NoteTypeSystem)
	}
	out.Kind = hush.NoteKind(in.Type.Coding[0].Code)
	if len(in.Content) != 1 {
		return out, hush.Errorf(hush.EINVALID, "content must hold exactly one attachment")
	}
	att := in.Content[0].Attachment
	if ct := strings.ToLower(strings.ReplaceAll(att.ContentType, " ", "")); ct != "" && ct != "text/plain" && ct != "text/plain;charset=utf-8" {
		return out, hush.Errorf(hush.EINVALID, "attachment contentType must be text/plain; charset=utf-8")
	}
	text, err := base64.StdEncoding.DecodeString(att.Data)
	if err != nil {
		return out, hush.Errorf(hush.EINVALID, "attachment data must be base64")
	}
	out.Text = string(text)
	out.Title = in.Description
	return out, nil
}

func (s *Server) createNote(w http.ResponseWriter, r *http.Request) error {
	var in documentReference
	if err := decode(r.Body, "DocumentReference", &in); err != nil {
		return err
	}
	if in.Subject == nil {
		return hush.Errorf(hush.EINVALID, "subject must reference the patient")
	}
	pid, err := refID(in.Subject.Reference, "Patient")
	if err != nil {
		return err
	}
	ni, err := noteInput(in)
	if err != nil {
		return err
	}
	n, err := s.c.CreateNote(r.Context(), pid, ni)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/fhir/R4/DocumentReference/"+n.ID+"/_history/1")
	w.Header().Set("ETag", `W/"1"`)
	return writeJSON(w, http.StatusCreated, fromNote(n))
}

func (s *Server) readNote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	n, err := s.c.Note(r.Context(), id, 0)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", `W/"`+strconv.Itoa(n.Version)+`"`)
	return writeJSON(w, http.StatusOK, fromNote(n))
}

func (s *Server) readNoteVersion(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := strconv.Atoi(r.PathValue("vid"))
	if err != nil || v < 1 {
		return hush.Errorf(hush.EINVALID, "version must be a positive number")
	}
	n, err := s.c.Note(r.Context(), id, v)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, fromNote(n))
}

func (s *Server) noteHistory(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ns, err := s.c.NoteHistory(r.Context(), id)
	if err != nil {
		return err
	}
	b := bundle{ResourceType: "Bundle", Type: "history", Total: len(ns)}
	for i := len(ns) - 1; i >= 0; i-- {
		b.Entry = append(b.Entry, bundleEntry{FullURL: "DocumentReference/" + id + "/_history/" + strconv.Itoa(ns[i].Version), Resource: fromNote(ns[i])})
	}
	return writeJSON(w, http.StatusOK, b)
}

// updateNote saves a draft again, signs it (docStatus final) or amends a
// signed note (docStatus amended). If-Match: W/"n" guards against lost
// updates.
func (s *Server) updateNote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ifVersion := 0
	if m := r.Header.Get("If-Match"); m != "" {
		v := strings.Trim(strings.TrimPrefix(m, "W/"), `"`)
		if ifVersion, err = strconv.Atoi(v); err != nil || ifVersion < 1 {
			return hush.Errorf(hush.EINVALID, `If-Match must be W/"<version>"`)
		}
	}
	var in documentReference
	if err := decode(r.Body, "DocumentReference", &in); err != nil {
		return err
	}
	if in.ID != "" && in.ID != id {
		return hush.Errorf(hush.EINVALID, "the resource id does not match the URL")
	}
	ni, err := noteInput(in)
	if err != nil {
		return err
	}
	n, err := s.c.UpdateNote(r.Context(), id, ifVersion, ni)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", `W/"`+strconv.Itoa(n.Version)+`"`)
	return writeJSON(w, http.StatusOK, fromNote(n))
}

// searchNotes returns a patient's chart: the newest version of every note.
func (s *Server) searchNotes(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var pid string
	if q.Has("patient") && q.Has("subject") {
		return hush.Errorf(hush.EINVALID, "give patient or subject, not both")
	}
	for k := range q {
		switch k {
		case "patient", "subject":
			ref := q.Get(k)
			if !strings.Contains(ref, "/") {
				ref = "Patient/" + ref
			}
			id, err := refID(ref, "Patient")
			if err != nil {
				return err
			}
			pid = id
		case "_count":
		default:
			return hush.Errorf(hush.EINVALID, "unsupported search parameter (use patient)")
		}
	}
	if pid == "" {
		return hush.Errorf(hush.EINVALID, "search notes by patient")
	}
	ns, err := s.c.Chart(r.Context(), pid)
	if err != nil {
		return err
	}
	res, ids := make([]any, len(ns)), make([]string, len(ns))
	for i, n := range ns {
		res[i], ids[i] = fromNote(n), n.ID
	}
	return writeJSON(w, http.StatusOK, searchset("DocumentReference", res, ids))
}

func (s *Server) careTeamResource(r *http.Request, pid string, members []string) careTeamResource {
	ct := careTeamResource{ResourceType: "CareTeam", ID: pid, Status: "active", Subject: &reference{Reference: "Patient/" + pid}}
	for _, m := range members {
		ref := &reference{Reference: "Practitioner/" + m}
		if u, err := s.c.User(r.Context(), m); err == nil {
			ref.Display = u.Name
		}
		ct.Participant = append(ct.Participant, careTeamParticipant{Member: ref})
	}
	return ct
}

// setCareTeam applies a CareTeam resource: its participants become the
// patient's care team. The CareTeam's id is the patient's id.
func (s *Server) setCareTeam(w http.ResponseWriter, r *http.Request, urlID string, status int) error {
	var in careTeamResource
	if err := decode(r.Body, "CareTeam", &in); err != nil {
		return err
	}
	if in.Subject == nil {
		return hush.Errorf(hush.EINVALID, "subject must reference the patient")
	}
	pid, err := refID(in.Subject.Reference, "Patient")
	if err != nil {
		return err
	}
	if urlID != "" && urlID != pid {
		return hush.Errorf(hush.EINVALID, "a CareTeam's id is its patient's id")
	}
	if in.Status != "" && in.Status != "active" {
		return hush.Errorf(hush.EINVALID, "status must be active")
	}
	var want []string
	for _, p := range in.Participant {
		if p.Member == nil {
			return hush.Errorf(hush.EINVALID, "each participant needs a member")
		}
		id, err := refID(p.Member.Reference, "Practitioner")
		if err != nil {
			return err
		}
		want = append(want, id)
	}
	members, err := s.c.SetCareTeam(r.Context(), pid, want)
	if err != nil {
		return err
	}
	return writeJSON(w, status, s.careTeamResource(r, pid, members))
}

func (s *Server) createCareTeam(w http.ResponseWriter, r *http.Request) error {
	return s.setCareTeam(w, r, "", http.StatusCreated)
}

func (s *Server) updateCareTeam(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	return s.setCareTeam(w, r, id, http.StatusOK)
}

func (s *Server) readCareTeam(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	members, err := s.c.CareTeam(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.careTeamResource(r, id, members))
}

func (s *Server) searchCareTeam(w http.ResponseWriter, r *http.Request) error {
	for k := range r.URL.Query() {
		if k != "patient" && k != "_count" {
			return hush.Errorf(hush.EINVALID, "unsupported search parameter (use patient)")
		}
	}
	ref := r.URL.Query().Get("patient")
	if !strings.Contains(ref, "/") {
		ref = "Patient/" + ref
	}
	pid, err := refID(ref, "Patient")
	if err != nil {
		return hush.Errorf(hush.EINVALID, "search care teams by patient")
	}
	members, err := s.c.CareTeam(r.Context(), pid)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, searchset("CareTeam", []any{s.careTeamResource(r, pid, members)}, []string{pid}))
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) error {
	type interaction struct {
		Code string `json:"code"`
	}
	type searchParam struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	type resource struct {
		Type        string        `json:"type"`
		Interaction []interaction `json:"interaction"`
		SearchParam []searchParam `json:"searchParam,omitempty"`
		Versioning  string        `json:"versioning,omitempty"`
	}
	in := func(codes ...string) []interaction {
		var out []interaction
		for _, c := range codes {
			out = append(out, interaction{Code: c})
		}
		return out
	}
	cs := map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         "2026-11-26",
		"kind":         "instance",
		"software":     map[string]string{"name": "Hush"},
		"implementation": map[string]string{
			"description": "Hush sealed electronic patient record: " + s.c.Name(),
		},
		"fhirVersion": "4.0.1",
		"format":      []string{"application/fhir+json"},
		"rest": []map[string]any{{
			"mode": "server",
			"security": map[string]any{
				"description": "Bearer API tokens (hush token create). TLS only.",
			},
			"resource": []resource{
				{Type: "Patient", Interaction: in("create", "read", "search-type"), SearchParam: []searchParam{{"name", "string"}, {"identifier", "token"}}},
				{Type: "Practitioner", Interaction: in("read", "search-type"), SearchParam: []searchParam{{"name", "string"}}},
				{Type: "DocumentReference", Interaction: in("create", "read", "vread", "update", "history-instance", "search-type"), SearchParam: []searchParam{{"patient", "reference"}}, Versioning: "versioned"},
				{Type: "CareTeam", Interaction: in("create", "read", "update", "search-type"), SearchParam: []searchParam{{"patient", "reference"}}},
				{Type: "AuditEvent", Interaction: in("search-type"), SearchParam: []searchParam{{"patient", "reference"}, {"agent", "reference"}, {"date", "date"}}},
			},
		}},
	}
	return writeJSON(w, http.StatusOK, cs)
}
