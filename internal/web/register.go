package web

import (
	"net/http"
	"strings"

	"github.com/hushepr/hush/internal/hush"
)

type registerForm struct {
	PatientID  string // set when editing an existing patient
	Clinicians []hush.User
	Clinician  string
	MayWait    bool // reception and admins may register a patient before a clinician is named
	Family     string
	Given      string
	HETU       string
	BirthDate  string
	Phone      string
	Email      string
}

func (s *Server) registerPage(w http.ResponseWriter, r *http.Request, sess *session) {
	if !canRegister(sess.actor.Role) {
		s.error(w, r, http.StatusForbidden, "error.forbidden")
		return
	}
	f := registerForm{Clinicians: s.clinicians(r), MayWait: sess.actor.Role != hush.RoleClinician}
	if sess.actor.Role == hush.RoleClinician {
		f.Clinician = sess.actor.UserID
	}
	s.render(w, r, http.StatusOK, "register", page{Title: "reg.title", User: s.user(r, sess), Data: f, Active: "patients"})
}

func canRegister(r hush.Role) bool {
	return r == hush.RoleClinician || r == hush.RoleReception || r == hush.RoleAdmin
}

// register creates a patient for a named treating clinician: the record key
// is granted to that clinician and the recovery key, and to no one else.
// Reception and admins may name none yet: the record is then the recovery
// key's alone until an officer grants it (hush recover grant).
func (s *Server) register(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	f, p := formPatient(r)
	var team []string
	if f.Clinician != "" {
		team = []string{f.Clinician}
	}
	created, err := s.c.CreatePatient(r.Context(), p, team)
	if err != nil {
		switch hush.ErrorCode(err) {
		case hush.EINVALID, hush.ECONFLICT:
			f.Clinicians, f.MayWait = s.clinicians(r), sess.actor.Role != hush.RoleClinician
			// The message is the domain's safe text: it names the rule, never the input.
			s.render(w, r, http.StatusBadRequest, "register", page{Title: "reg.title", User: s.user(r, sess), Data: f, Active: "patients",
				Error: "reg.invalid", Detail: hush.ErrorMessage(err)})
		default:
			s.fail(w, r, err)
		}
		return
	}
	http.Redirect(w, r, "/patients/"+created.ID, http.StatusSeeOther)
}

// formPatient reads the patient fields of the register/edit form.
func formPatient(r *http.Request) (registerForm, hush.Patient) {
	f := registerForm{Clinician: r.PostFormValue("clinician"), Family: r.PostFormValue("family"), Given: r.PostFormValue("given"),
		HETU: r.PostFormValue("hetu"), BirthDate: r.PostFormValue("birthDate"), Phone: r.PostFormValue("phone"), Email: r.PostFormValue("email")}
	p := hush.Patient{Family: f.Family, HETU: strings.TrimSpace(f.HETU), BirthDate: strings.TrimSpace(f.BirthDate)}
	if g := strings.Fields(f.Given); len(g) > 0 {
		p.Given = g
	}
	if v := strings.TrimSpace(f.Phone); v != "" {
		p.Telecom = append(p.Telecom, hush.ContactPoint{System: "phone", Value: v, Use: "mobile"})
	}
	if v := strings.TrimSpace(f.Email); v != "" {
		p.Telecom = append(p.Telecom, hush.ContactPoint{System: "email", Value: v})
	}
	return f, p
}

func (s *Server) editPatientPage(w http.ResponseWriter, r *http.Request, sess *session) {
	if !canRegister(sess.actor.Role) {
		s.error(w, r, http.StatusForbidden, "error.forbidden")
		return
	}
	p, err := s.c.Patient(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := registerForm{PatientID: p.ID, Family: p.Family, Given: strings.Join(p.Given, " "), HETU: p.HETU, BirthDate: p.BirthDate}
	for _, t := range p.Telecom {
		switch t.System {
		case "phone":
			f.Phone = t.Value
		case "email":
			f.Email = t.Value
		}
	}
	s.render(w, r, http.StatusOK, "register", page{Title: "reg.edit", User: s.user(r, sess), Data: f, Active: "patients"})
}

// updatePatient saves corrected details; guardians and other contacts the
// form does not show are kept.
func (s *Server) updatePatient(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	id := r.PathValue("id")
	cur, err := s.c.Patient(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, p := formPatient(r)
	p.ID, p.Gender, p.Guardians = id, cur.Gender, cur.Guardians
	if _, err := s.c.UpdatePatient(r.Context(), p); err != nil {
		switch hush.ErrorCode(err) {
		case hush.EINVALID, hush.ECONFLICT:
			f.PatientID = id
			s.render(w, r, http.StatusBadRequest, "register", page{Title: "reg.edit", User: s.user(r, sess), Data: f, Active: "patients",
				Error: "reg.invalid", Detail: hush.ErrorMessage(err)})
		default:
			s.fail(w, r, err)
		}
		return
	}
	http.Redirect(w, r, "/patients/"+id, http.StatusSeeOther)
}
