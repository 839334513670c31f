package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
)

// The admin's tripwire pages (admin listener only): the alerts with the
// audit trail behind each, the frozen accounts with an unfreeze button,
// and the clinic settings (working hours, limits, alert channels).

func (s *Server) alertRoutes() {
	s.mux.HandleFunc("GET /admin/alerts", s.role(s.adminAlerts, hush.RoleAdmin))
	s.mux.HandleFunc("POST /admin/alerts/unfreeze/{id}", s.role(s.adminUnfreeze, hush.RoleAdmin))
	s.mux.HandleFunc("GET /admin/settings", s.role(s.adminSettings, hush.RoleAdmin))
	s.mux.HandleFunc("POST /admin/settings", s.role(s.adminSaveSettings, hush.RoleAdmin))
}

type alertRow struct {
	clinic.AuditView
	Kind        string
	AccountName string
	Since       string // the day, for the audit trail link
}

type alertsData struct {
	Frozen []clinic.FrozenAccount
	Alerts []alertRow
}

func (s *Server) adminAlerts(w http.ResponseWriter, r *http.Request, sess *session) {
	frozen, err := s.c.FrozenAccounts(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	evs, err := s.c.Alerts(r.Context(), 100, 0)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	names := map[string]string{}
	if us, err := s.c.Users(r.Context(), ""); err == nil {
		for _, u := range us {
			names[u.ID] = u.Name
		}
	}
	d := alertsData{Frozen: frozen}
	for _, ev := range evs {
		d.Alerts = append(d.Alerts, alertRow{AuditView: ev, Kind: strings.TrimPrefix(ev.Action, "alert."), AccountName: names[ev.Entity],
			Since: ev.Time.In(clinic.Helsinki).Format("2006-01-02")})
	}
	s.render(w, r, http.StatusOK, "admin_alerts", page{Title: "alerts.title", User: s.user(r, sess), Active: "admin", Data: d})
}

func (s *Server) adminUnfreeze(w http.ResponseWriter, r *http.Request, sess *session) {
	if err := s.c.Unfreeze(r.Context(), r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/alerts", http.StatusSeeOther)
}

type settingsData struct {
	S      clinic.Settings
	Days   []int // Monday first, as a Finnish week is shown
	SMTPTo string
	Saved  bool
}

func (s *Server) adminSettings(w http.ResponseWriter, r *http.Request, sess *session) {
	st, err := s.c.Settings(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderSettings(w, r, sess, http.StatusOK, st, "", "", r.URL.Query().Get("saved") == "1")
}

func (s *Server) renderSettings(w http.ResponseWriter, r *http.Request, sess *session, status int, st clinic.Settings, errKey, detail string, saved bool) {
	s.render(w, r, status, "admin_settings", page{Title: "settings.title", User: s.user(r, sess), Active: "admin", Error: errKey, Detail: detail,
		Data: settingsData{S: st, Days: []int{1, 2, 3, 4, 5, 6, 0}, SMTPTo: strings.Join(st.SMTPTo, ", "), Saved: saved}})
}

func (s *Server) adminSaveSettings(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	var st clinic.Settings
	for d := range st.Hours {
		st.Hours[d] = strings.TrimSpace(r.PostFormValue("hours" + strconv.Itoa(d)))
	}
	num := func(name string) int { n, _ := strconv.Atoi(strings.TrimSpace(r.PostFormValue(name))); return n }
	st.ChartLimit, st.ChartWindowMin = num("chart_limit"), num("chart_window_min")
	st.DirectoryLimit, st.DirectoryWindowMin = num("directory_limit"), num("directory_window_min")
	st.CalendarLimit = num("calendar_limit")
	st.AuditLimit, st.AuditWindowMin = num("audit_limit"), num("audit_window_min")
	st.RateLimit = num("rate_limit")
	st.BaselineFactor, _ = strconv.ParseFloat(strings.TrimSpace(r.PostFormValue("baseline_factor")), 64)
	st.TripwiresOff = r.PostFormValue("tripwires_off") == "on"
	st.WebhookURL = strings.TrimSpace(r.PostFormValue("webhook_url"))
	st.WebhookSecret = r.PostFormValue("webhook_secret")
	st.SMTPAddr = strings.TrimSpace(r.PostFormValue("smtp_addr"))
	st.SMTPFrom = strings.TrimSpace(r.PostFormValue("smtp_from"))
	for _, to := range strings.Split(r.PostFormValue("smtp_to"), ",") {
		if to = strings.TrimSpace(to); to != "" {
			st.SMTPTo = append(st.SMTPTo, to)
		}
	}
	st.SMTPUsername = strings.TrimSpace(r.PostFormValue("smtp_username"))
	st.SMTPPassword = r.PostFormValue("smtp_password")
	st.SMTPRequireTLS = r.PostFormValue("smtp_require_tls") == "on"
	st.Syslog = r.PostFormValue("syslog") == "on"
	if err := s.c.UpdateSettings(r.Context(), st); err != nil {
		if hush.ErrorCode(err) != hush.EINVALID {
			s.fail(w, r, err)
			return
		}
		// The message names the rule or field, never a value; secrets
		// are not shown back.
		s.renderSettings(w, r, sess, http.StatusBadRequest, st.Redacted(), "settings.invalid", hush.ErrorMessage(err), false)
		return
	}
	http.Redirect(w, r, "/admin/settings?saved=1", http.StatusSeeOther)
}
