package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
)

// apptView is an appointment as a page shows it: local times and names.
type apptView struct {
	clinic.Appointment
	Local         time.Time
	LocalEnd      time.Time
	PatientName   string
	ClinicianName string
}

type dayView struct {
	Date  time.Time
	Appts []apptView
}

type calendarData struct {
	View       string
	Date       time.Time
	Prev, Next string
	Days       []dayView
	Clinicians []hush.User
	Clinician  string
	MyDay      bool
}

func (s *Server) clinicians(r *http.Request) []hush.User {
	us, _ := s.c.Users(r.Context(), "")
	var out []hush.User
	for _, u := range us {
		if u.Role == hush.RoleClinician && u.Active {
			out = append(out, u)
		}
	}
	return out
}

func (s *Server) views(r *http.Request, appts []clinic.Appointment) []apptView {
	names := map[string]string{}
	out := make([]apptView, 0, len(appts))
	for _, a := range appts {
		v := apptView{Appointment: a, Local: a.Start.In(clinic.Helsinki), LocalEnd: a.End.In(clinic.Helsinki)}
		v.PatientName = s.c.DisplayName(r.Context(), a.PatientID)
		if n, ok := names[a.ClinicianID]; ok {
			v.ClinicianName = n
		} else if u, err := s.c.User(r.Context(), a.ClinicianID); err == nil {
			v.ClinicianName, names[a.ClinicianID] = u.Name, u.Name
		}
		out = append(out, v)
	}
	return out
}

// calendar shows a day or a week (Monday to Sunday) in Helsinki time, for
// the clinic or one clinician.
func (s *Server) calendar(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	view := q.Get("view")
	if view != "day" {
		view = "week"
	}
	today := s.now().In(clinic.Helsinki)
	date := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, clinic.Helsinki)
	if d := q.Get("date"); d != "" {
		t, err := time.ParseInLocation(time.DateOnly, d, clinic.Helsinki)
		if err != nil {
			s.error(w, r, http.StatusBadRequest, "error.notfound")
			return
		}
		date = t
	}
	from, days := date, 1
	if view == "week" {
		from = date.AddDate(0, 0, -((int(date.Weekday()) + 6) % 7))
		days = 7
	}
	to := from.AddDate(0, 0, days)
	clinician := q.Get("clinician")
	appts, err := s.c.Appointments(r.Context(), from, to, clinician)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := calendarData{View: view, Date: date, Clinicians: s.clinicians(r), Clinician: clinician,
		Prev: from.AddDate(0, 0, -days).Format(time.DateOnly), Next: to.Format(time.DateOnly)}
	vs := s.views(r, appts)
	for i := 0; i < days; i++ {
		day := dayView{Date: from.AddDate(0, 0, i)}
		for _, v := range vs {
			if v.Local.Year() == day.Date.Year() && v.Local.YearDay() == day.Date.YearDay() {
				day.Appts = append(day.Appts, v)
			}
		}
		d.Days = append(d.Days, day)
	}
	s.render(w, r, http.StatusOK, "calendar", page{Title: "calendar.title", User: s.user(r, sess), Data: d, Active: "calendar"})
}

// myDay is a clinician's start page: today's appointments.
func (s *Server) myDay(w http.ResponseWriter, r *http.Request, sess *session) {
	if sess.actor.Role != hush.RoleClinician {
		http.Redirect(w, r, "/calendar", http.StatusSeeOther)
		return
	}
	now := s.now().In(clinic.Helsinki)
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, clinic.Helsinki)
	appts, err := s.c.Appointments(r.Context(), from, from.AddDate(0, 0, 1), sess.actor.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := calendarData{View: "day", Date: from, MyDay: true, Days: []dayView{{Date: from, Appts: s.views(r, appts)}}}
	s.render(w, r, http.StatusOK, "calendar", page{Title: "today.title", User: s.user(r, sess), Data: d, Active: "today"})
}

type apptForm struct {
	Patient    hush.Patient
	Appt       *apptView
	Clinicians []hush.User
	Date, Time string
	Minutes    int
	Clinician  string
}

func (s *Server) newApptPage(w http.ResponseWriter, r *http.Request, sess *session) {
	p, err := s.c.Patient(r.Context(), r.URL.Query().Get("patient"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.now().In(clinic.Helsinki).AddDate(0, 0, 1)
	f := apptForm{Patient: p, Clinicians: s.clinicians(r), Date: now.Format(time.DateOnly), Time: "09:00", Minutes: 45}
	if sess.actor.Role == hush.RoleClinician {
		f.Clinician = sess.actor.UserID
	}
	s.render(w, r, http.StatusOK, "appointment", page{Title: "appt.new", User: s.user(r, sess), Data: f, Active: "calendar"})
}

// slot reads date, time and minutes from a form, in Helsinki time.
func slot(r *http.Request) (time.Time, time.Duration, error) {
	start, err := time.ParseInLocation("2006-01-02 15:04", r.PostFormValue("date")+" "+r.PostFormValue("time"), clinic.Helsinki)
	if err != nil {
		return time.Time{}, 0, hush.Errorf(hush.EINVALID, "date and time")
	}
	m, err := strconv.Atoi(r.PostFormValue("minutes"))
	if err != nil {
		return time.Time{}, 0, hush.Errorf(hush.EINVALID, "minutes")
	}
	return start, time.Duration(m) * time.Minute, nil
}

func (s *Server) apptError(w http.ResponseWriter, r *http.Request, sess *session, err error, f apptForm) {
	key, status := "appt.invalid", http.StatusBadRequest
	switch hush.ErrorCode(err) {
	case hush.ECONFLICT:
		key, status = "appt.busy", http.StatusConflict
	case hush.EFORBIDDEN:
		s.error(w, r, http.StatusForbidden, "error.forbidden")
		return
	case hush.EINVALID:
	default:
		s.fail(w, r, err)
		return
	}
	f.Clinicians = s.clinicians(r)
	f.Date, f.Time, f.Clinician = r.PostFormValue("date"), r.PostFormValue("time"), r.PostFormValue("clinician")
	f.Minutes = atoi(r.PostFormValue("minutes"))
	s.render(w, r, status, "appointment", page{Title: "appt.new", User: s.user(r, sess), Data: f, Error: key, Active: "calendar"})
}

func (s *Server) bookAppt(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	p, err := s.c.Patient(r.Context(), r.PostFormValue("patient"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	start, dur, err := slot(r)
	if err == nil {
		_, err = s.c.BookAppointment(r.Context(), p.ID, r.PostFormValue("clinician"), start, dur)
	}
	if err != nil {
		s.apptError(w, r, sess, err, apptForm{Patient: p})
		return
	}
	http.Redirect(w, r, "/calendar?view=day&date="+start.Format(time.DateOnly), http.StatusSeeOther)
}

func (s *Server) apptPage(w http.ResponseWriter, r *http.Request, sess *session) {
	a, err := s.c.Appointment(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.c.Patient(r.Context(), a.PatientID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := s.views(r, []clinic.Appointment{a})[0]
	f := apptForm{Patient: p, Appt: &v, Clinicians: s.clinicians(r), Date: v.Local.Format(time.DateOnly), Time: v.Local.Format("15:04"),
		Minutes: int(a.End.Sub(a.Start).Minutes()), Clinician: a.ClinicianID}
	s.render(w, r, http.StatusOK, "appointment", page{Title: "appt.title", User: s.user(r, sess), Data: f, Active: "calendar"})
}

func (s *Server) changeAppt(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	id := r.PathValue("id")
	var (
		a   clinic.Appointment
		err error
	)
	switch r.PostFormValue("action") {
	case "move":
		start, dur, perr := slot(r)
		if err = perr; err == nil {
			a, err = s.c.ChangeAppointment(r.Context(), id, clinic.ApptBooked, start, dur)
		}
	case "cancel":
		a, err = s.c.ChangeAppointment(r.Context(), id, clinic.ApptCancelled, time.Time{}, 0)
	case "noshow":
		a, err = s.c.ChangeAppointment(r.Context(), id, clinic.ApptNoShow, time.Time{}, 0)
	default:
		err = hush.Errorf(hush.EINVALID, "action")
	}
	if err != nil {
		cur, cerr := s.c.Appointment(r.Context(), id)
		if cerr != nil {
			s.fail(w, r, cerr)
			return
		}
		p, perr := s.c.Patient(r.Context(), cur.PatientID)
		if perr != nil {
			s.fail(w, r, perr)
			return
		}
		v := s.views(r, []clinic.Appointment{cur})[0]
		s.apptError(w, r, sess, err, apptForm{Patient: p, Appt: &v})
		return
	}
	http.Redirect(w, r, "/calendar?view=day&date="+a.Start.In(clinic.Helsinki).Format(time.DateOnly), http.StatusSeeOther)
}
