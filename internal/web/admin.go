package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
)

// The admin pages exist only on the admin listener (--admin-addr, loopback
// by default): the public listener carries no admin surface. Admins see no
// clinical content here either.

func (s *Server) adminRoutes() {
	s.mux.HandleFunc("GET /admin/users", s.role(s.adminUsers, hush.RoleAdmin))
	s.mux.HandleFunc("POST /admin/users", s.role(s.adminAddUser, hush.RoleAdmin))
	s.mux.HandleFunc("POST /admin/users/{id}/deactivate", s.role(s.adminDeactivate, hush.RoleAdmin))
	s.mux.HandleFunc("POST /admin/users/{id}/reset-mfa", s.role(s.adminResetMFA, hush.RoleAdmin))
	s.mux.HandleFunc("GET /admin/careteam", s.role(s.adminCareTeam, hush.RoleAdmin))
	s.mux.HandleFunc("POST /admin/careteam", s.role(s.adminRequest, hush.RoleAdmin))
	s.mux.HandleFunc("GET /admin/audit", s.role(s.adminAudit, hush.RoleAdmin, hush.RoleAuditor))
	s.alertRoutes()
}

// role requires a signed-in session with one of the roles.
func (s *Server) role(h handler, roles ...hush.Role) http.HandlerFunc {
	return s.full(func(w http.ResponseWriter, r *http.Request, sess *session) {
		for _, ro := range roles {
			if sess.actor.Role == ro {
				h(w, r, sess)
				return
			}
		}
		s.error(w, r, http.StatusForbidden, "error.forbidden")
	})
}

type usersData struct {
	Users  []hush.User
	Roles  []hush.Role
	Issued *issuedCode // an enrolment code just issued, shown once
}

type issuedCode struct {
	Email, Code, Expires string
	Emailed              bool
}

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request, sess *session) {
	s.renderUsers(w, r, sess, http.StatusOK, "", "", nil)
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, sess *session, status int, errKey, detail string, issued *issuedCode) {
	us, err := s.c.Users(r.Context(), "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, status, "admin_users", page{Title: "admin.users", User: s.user(r, sess), Active: "admin", Error: errKey, Detail: detail,
		Data: usersData{Users: us, Roles: []hush.Role{hush.RoleClinician, hush.RoleReception, hush.RoleAdmin, hush.RoleAuditor}, Issued: issued}})
}

func (s *Server) adminAddUser(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	role, err := hush.ParseRole(r.PostFormValue("role"))
	if err == nil && role == hush.RolePatient {
		err = hush.Errorf(hush.EINVALID, "patient accounts are made from the patient's record")
	}
	var u hush.User
	if err == nil {
		u, err = s.c.AddUser(r.Context(), clinic.NewUser{Email: r.PostFormValue("email"), Name: r.PostFormValue("name"), Role: role, Password: []byte(r.PostFormValue("password"))})
	}
	if err != nil {
		if c := hush.ErrorCode(err); c == hush.EINVALID || c == hush.ECONFLICT {
			s.renderUsers(w, r, sess, http.StatusBadRequest, "admin.adduserfail", hush.ErrorMessage(err), nil)
			return
		}
		s.fail(w, r, err)
		return
	}
	// The first sign-in needs the enrolment code too: e-mailed to the
	// holder when the clinic has a relay, else shown here once.
	ec, err := s.c.IssueEnrolmentCode(r.Context(), u.ID, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderUsers(w, r, sess, http.StatusOK, "", "", issuedOf(u, ec))
}

func issuedOf(u hush.User, ec clinic.EnrolmentCode) *issuedCode {
	return &issuedCode{Email: u.Email, Code: ec.Code, Emailed: ec.Emailed, Expires: ec.Expires.In(clinic.Helsinki).Format("2006-01-02 15:04")}
}

// adminResetMFA removes an account's second factors and issues a new
// enrolment code (for a lost phone, or a suspected takeover).
func (s *Server) adminResetMFA(w http.ResponseWriter, r *http.Request, sess *session) {
	u, err := s.c.User(r.Context(), r.PathValue("id"))
	if err == nil && u.ID == sess.actor.UserID {
		err = hush.Errorf(hush.EINVALID, "you cannot reset your own second step here")
	}
	var ec clinic.EnrolmentCode
	if err == nil {
		ec, err = s.c.ResetMFA(r.Context(), u.ID, true)
	}
	if err != nil {
		if hush.ErrorCode(err) == hush.EINVALID {
			s.renderUsers(w, r, sess, http.StatusBadRequest, "admin.resetmfa", hush.ErrorMessage(err), nil)
			return
		}
		s.fail(w, r, err)
		return
	}
	s.sessions.dropUser(u.ID, nil)
	s.renderUsers(w, r, sess, http.StatusOK, "", "", issuedOf(u, ec))
}

func (s *Server) adminDeactivate(w http.ResponseWriter, r *http.Request, sess *session) {
	u, err := s.c.User(r.Context(), r.PathValue("id"))
	if err == nil && u.ID == sess.actor.UserID {
		err = hush.Errorf(hush.EINVALID, "you cannot deactivate your own account")
	}
	if err == nil {
		err = s.c.DeactivateUser(r.Context(), u.Email)
	}
	if err == nil {
		s.sessions.dropUser(u.ID, nil)
	}
	if err != nil {
		if hush.ErrorCode(err) == hush.EINVALID {
			s.renderUsers(w, r, sess, http.StatusBadRequest, "admin.deactivatefail", hush.ErrorMessage(err), nil)
			return
		}
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
}

type careTeamAdminData struct {
	Patient    *hush.Patient
	Team       []hush.User
	Requests   []clinic.CareTeamRequest
	Clinicians []hush.User
	Names      map[string]string
	Query      string
	Results    []hush.Patient
}

func (s *Server) adminCareTeam(w http.ResponseWriter, r *http.Request, sess *session) {
	d := careTeamAdminData{Names: map[string]string{}, Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	if d.Query != "" {
		d.Results, _ = s.c.SearchPatients(r.Context(), clinic.PatientQuery{Name: d.Query})
	}
	if pid := r.URL.Query().Get("patient"); pid != "" {
		v, err := s.c.ChartView(r.Context(), pid)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		d.Patient = &v.Patient
		for _, id := range v.Team {
			if u, err := s.c.User(r.Context(), id); err == nil {
				d.Team = append(d.Team, u)
			}
		}
		if d.Requests, err = s.c.CareTeamRequests(r.Context(), pid); err != nil {
			s.fail(w, r, err)
			return
		}
		d.Clinicians = s.clinicians(r)
		for _, u := range d.Clinicians {
			d.Names[u.ID] = u.Name
		}
	}
	s.render(w, r, http.StatusOK, "admin_careteam", page{Title: "admin.careteam", User: s.user(r, sess), Active: "admin", Data: d})
}

func (s *Server) adminRequest(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	pid := r.PostFormValue("patient")
	// A record no clinician holds yet (a waiting-list patient) gets its
	// first clinician at once; otherwise the request asks the team.
	team, err := s.c.CareTeam(r.Context(), pid)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(team) == 0 {
		if _, err := s.c.SetCareTeam(r.Context(), pid, []string{r.PostFormValue("clinician")}); err != nil {
			s.fail(w, r, err)
			return
		}
		http.Redirect(w, r, "/admin/careteam?patient="+pid, http.StatusSeeOther)
		return
	}
	if _, err := s.c.RequestCareTeam(r.Context(), pid, r.PostFormValue("clinician")); err != nil && hush.ErrorCode(err) != hush.ECONFLICT {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/careteam?patient="+pid, http.StatusSeeOther)
}

type auditData struct {
	Events  []clinic.AuditView
	Patient string
	Actor   string
	Since   string
}

func (s *Server) adminAudit(w http.ResponseWriter, r *http.Request, sess *session) {
	q := clinic.AuditQuery{PatientID: r.URL.Query().Get("patient"), ActorID: r.URL.Query().Get("actor"), Limit: clinic.MaxAuditPage}
	d := auditData{Patient: q.PatientID, Actor: q.ActorID, Since: r.URL.Query().Get("since")}
	if d.Since != "" {
		t, err := time.ParseInLocation(time.DateOnly, d.Since, clinic.Helsinki)
		if err != nil {
			s.error(w, r, http.StatusBadRequest, "error.other")
			return
		}
		q.Since = t
	}
	evs, err := s.c.SearchAudit(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Events = evs
	s.render(w, r, http.StatusOK, "admin_audit", page{Title: "admin.audit", User: s.user(r, sess), Active: "admin", Data: d})
}

// requests shows a care-team clinician the open requests on a chart.
func (s *Server) answerRequest(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	pid := r.PostFormValue("patient")
	if err := s.c.AnswerCareTeamRequest(r.Context(), r.PathValue("id"), r.PostFormValue("action") == "grant"); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/patients/"+pid, http.StatusSeeOther)
}
