package web

import (
	"net/http"
	"strings"

	"github.com/hushepr/hush/internal/hush"
)

type registerForm struct {
	Clinicians []hush.User
	Clinician  string
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
	f := registerForm{Clinicians: s.clinicians(r)}
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
func (s *Server) register(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
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
	var team []string
	if f.Clinician != "" {
		team = []string{f.Clinician}
	}
	created, err := s.c.CreatePatient(r.Context(), p, team)
	if err != nil {
		switch hush.ErrorCode(err) {
		case hush.EINVALID, hush.ECONFLICT:
			f.Clinicians = s.clinicians(r)
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
