// Package web serves Hush's browser interface: server-rendered pages
// (html/template, embedded) that work without JavaScript, so a strict
// Content-Security-Policy holds: styles and the two small scripts
// (security keys, draft autosave) come from files of this server, never
// inline.
//
// # Rules of this surface
//
// Sessions are server-side; the browser holds only a random id in a
// __Host- cookie (Secure, HttpOnly, SameSite=Strict). Every state-changing
// request passes http.CrossOriginProtection. Every page carries a strict
// CSP, HSTS, frame-ancestors 'none' and Cache-Control: no-store. URLs carry
// ids only, never names or search terms in paths (a search term is in the
// query string of a GET the server never logs). Sign-in is a password, then
// a TOTP code (enrolled at the first sign-in with a QR code, mandatory
// for every staff account), a security key or passkey (WebAuthn), or a
// recovery code; guessing is throttled per account and per address.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hushepr/hush/internal/auth"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/qr"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Server is the web app.
type Server struct {
	c        *clinic.Clinic
	log      *slog.Logger
	mux      *http.ServeMux
	pages    map[string]*template.Template
	sessions *sessions
	byEmail  *auth.Throttle // per account, every sign-in step
	byAddr   *auth.Throttle // per client address (IPv6 /64)
	byDevice *auth.Throttle // per known device, for its own account (guard.go)
	watch    *signinWatch
	csrf     *http.CrossOriginProtection
	now      func() time.Time
	admin    bool
	wa       *webauthn.WebAuthn // nil: security keys are off (EnableWebAuthn)
}

// New returns the public web app for c.
func New(c *clinic.Clinic, log *slog.Logger) (*Server, error) { return newServer(c, log, false) }

// NewAdmin returns the web app with the admin pages, for the admin listener
// only.
func NewAdmin(c *clinic.Clinic, log *slog.Logger) (*Server, error) { return newServer(c, log, true) }

func newServer(c *clinic.Clinic, log *slog.Logger, admin bool) (*Server, error) {
	s := &Server{c: c, log: log, mux: http.NewServeMux(), pages: map[string]*template.Template{}, sessions: newSessions(),
		byEmail: auth.NewThrottle(5, 15*time.Minute, 15*time.Minute), byAddr: auth.NewThrottle(30, 15*time.Minute, 15*time.Minute),
		byDevice: auth.NewThrottle(5, 15*time.Minute, 15*time.Minute), watch: newSigninWatch(),
		csrf: http.NewCrossOriginProtection(), now: time.Now}
	// A frozen account's browser sessions end at once, their keys wiped.
	c.OnFreeze(func(userID string) { s.sessions.dropUser(userID, nil) })
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 },
			// Times are stored in UTC and shown on the clinic's wall clock.
			"local": func(t time.Time) time.Time { return t.In(clinic.Helsinki) }}).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		s.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	s.mux.HandleFunc("GET /static/{name}", s.static)
	s.mux.HandleFunc("GET /{$}", s.full(s.myDay))
	s.mux.HandleFunc("GET /calendar", s.full(s.calendar))
	s.mux.HandleFunc("GET /appointments/new", s.full(s.newApptPage))
	s.mux.HandleFunc("POST /appointments", s.full(s.bookAppt))
	s.mux.HandleFunc("GET /appointments/{id}", s.full(s.apptPage))
	s.mux.HandleFunc("POST /appointments/{id}", s.full(s.changeAppt))
	s.mux.HandleFunc("GET /signin", s.signinPage)
	s.mux.HandleFunc("POST /signin", s.signin)
	s.mux.HandleFunc("GET /signin/mfa", s.pending(stageMFA, s.mfaPage))
	s.mux.HandleFunc("POST /signin/mfa", s.pending(stageMFA, s.mfa))
	s.mux.HandleFunc("GET /signin/code", s.pending(stageCode, s.enrolCodePage))
	s.mux.HandleFunc("POST /signin/code", s.pending(stageCode, s.enrolCode))
	s.mux.HandleFunc("GET /signin/enroll", s.pending(stageEnroll, s.enrollPage))
	s.mux.HandleFunc("POST /signin/enroll", s.pending(stageEnroll, s.enroll))
	s.mux.HandleFunc("GET /signin/codes", s.pending(stageCodes, s.codesPage))
	s.mux.HandleFunc("POST /signin/codes", s.pending(stageCodes, s.codesDone))
	s.mux.HandleFunc("GET /signin/password", s.pending(stageChange, s.passwordPage))
	s.mux.HandleFunc("POST /signin/password", s.pending(stageChange, s.changePassword))
	s.mux.HandleFunc("POST /signout", s.signout)
	s.mux.HandleFunc("GET /patients", s.full(s.patients))
	s.mux.HandleFunc("GET /patients/new", s.full(s.registerPage))
	s.mux.HandleFunc("POST /patients", s.full(s.register))
	s.mux.HandleFunc("GET /patients/{id}/edit", s.full(s.editPatientPage))
	s.mux.HandleFunc("POST /patients/{id}", s.full(s.updatePatient))
	s.mux.HandleFunc("GET /patients/{id}", s.full(s.chart))
	s.mux.HandleFunc("GET /patients/{id}/notes/new", s.full(s.newNotePage))
	s.mux.HandleFunc("POST /patients/{id}/notes", s.full(s.createNote))
	s.mux.HandleFunc("GET /notes/{id}/edit", s.full(s.editNotePage))
	s.mux.HandleFunc("POST /notes/{id}", s.full(s.updateNote))
	s.mux.HandleFunc("GET /notes/{id}/history", s.full(s.noteHistory))
	s.mux.HandleFunc("GET /patients/{id}/measures/new", s.full(s.newMeasurePage))
	s.mux.HandleFunc("POST /patients/{id}/measures", s.full(s.addMeasure))
	s.mux.HandleFunc("POST /patients/{id}/diagnoses", s.full(s.addDiagnosis))
	s.mux.HandleFunc("POST /patients/{id}/process", s.full(s.addProcessNote))
	s.mux.HandleFunc("POST /requests/{id}", s.full(s.answerRequest))
	s.mux.HandleFunc("GET /account/keys", s.full(s.keysPage))
	s.mux.HandleFunc("POST /account/keys/begin", s.full(s.keysBegin))
	s.mux.HandleFunc("POST /account/keys/finish", s.full(s.keysFinish))
	s.mux.HandleFunc("POST /account/keys/{id}/remove", s.full(s.keysRemove))
	s.mux.HandleFunc("POST /signin/key/begin", s.pending(stageMFA, s.mfaKeyBegin))
	s.mux.HandleFunc("POST /signin/key/finish", s.pending(stageMFA, s.mfaKeyFinish))
	s.admin = admin
	if admin {
		s.adminRoutes()
	}
	return s, nil
}

// static serves the files of static/ by name: files only, so no directory
// is listed, and no index.html or redirect either.
func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var b []byte
	err := fs.ErrNotExist
	if fs.ValidPath(name) {
		b, err = fs.ReadFile(staticFS, "static/"+name) // fails on a directory
	}
	if err != nil {
		s.error(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// Sweep wipes sessions that timed out (call it every minute).
func (s *Server) Sweep() { s.sessions.sweep(s.now()) }

// ServeHTTP sets the headers of every page and applies cross-origin
// protection to state-changing requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	if err := s.csrf.Check(r); err != nil {
		s.error(w, r, http.StatusForbidden, "error.forbidden")
		return
	}
	if l := r.URL.Query().Get("lang"); catalog[l] != nil {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 365 * 24 * 3600})
	}
	s.mux.ServeHTTP(w, r)
}

// page is what every template receives.
type page struct {
	Admin   bool // the admin listener
	Lang    string
	User    *hush.User
	Error   string
	Detail  string // a domain error's safe message (never input)
	Data    any
	Title   string
	Active  string
	Scripts []string // script files of static/ the page loads (never inline)
}

// T translates a catalog key for the page's language.
func (p page) T(key string, args ...any) string {
	msg := translate(p.Lang, key)
	var vals []any
	for _, a := range args {
		if a != nil {
			vals = append(vals, a)
		}
	}
	if len(vals) > 0 && strings.Contains(msg, "%") {
		return fmt.Sprintf(msg, vals...)
	}
	return msg
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Lang = lang(r)
	p.Admin = s.admin
	t := s.pages[name]
	var b strings.Builder
	if err := t.Execute(&b, p); err != nil {
		s.log.Error("render", "page", name, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

func (s *Server) error(w http.ResponseWriter, r *http.Request, status int, key string) {
	s.render(w, r, status, "error", page{Title: "error.title", Error: key})
}

// fail maps a domain error to a page, never showing its text.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch hush.ErrorCode(err) {
	case hush.EFORBIDDEN:
		if clinic.ErrFrozen(err) {
			s.error(w, r, http.StatusForbidden, "error.frozen")
			return
		}
		s.error(w, r, http.StatusForbidden, "error.forbidden")
	case hush.ENOTFOUND, hush.EINVALID:
		s.error(w, r, http.StatusNotFound, "error.notfound")
	case hush.EUNAVAILABLE:
		s.error(w, r, http.StatusServiceUnavailable, "error.other")
	case hush.ECONFLICT, hush.EUNAUTHORIZED:
		s.error(w, r, http.StatusConflict, "error.other")
	default:
		s.log.Error("web request failed", "code", hush.ErrorCode(err), "error", hush.ErrorMessage(err))
		s.error(w, r, http.StatusInternalServerError, "error.other")
	}
}

func clientAddr(r *http.Request) string {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return host
}

// ctxFor returns the request context carrying the request info and actor.
func ctxFor(r *http.Request, a *hush.Actor) *http.Request {
	ctx := hush.WithRequest(r.Context(), hush.Request{ClientAddr: clientAddr(r)})
	if a != nil {
		ctx = hush.WithActor(ctx, a)
	}
	return r.WithContext(ctx)
}

type handler func(w http.ResponseWriter, r *http.Request, s *session)

// full requires a signed-in session (password and second factor).
func (s *Server) full(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.sessions.get(r, s.now())
		if sess == nil || sess.stageNow() != stageFull {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		// A deactivated account's sessions end at its next request, and
		// so do those of an account whose second factor was reset (from
		// the command line, by another process).
		ok, err := s.c.Active(r.Context(), sess.actor.UserID)
		if err == nil && ok {
			ok, err = s.c.HasTOTP(r.Context(), sess.actor.UserID)
		}
		if err != nil || !ok {
			s.sessions.drop(sess)
			clearCookie(w)
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		h(w, ctxFor(r, sess.actor), sess)
	}
}

// pending requires a session at a given sign-in stage. The session is
// locked for the whole step, so parallel requests cannot race through it.
func (s *Server) pending(st stage, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.sessions.get(r, s.now())
		if sess == nil {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		sess.mu.Lock()
		defer sess.mu.Unlock()
		if sess.stage != st || sess.actor.Key == nil {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		h(w, ctxFor(r, nil), sess)
	}
}

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "signin", page{Title: "signin.title"})
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	email, eerr := clinic.NormalizeEmail(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	if eerr != nil {
		// Not an address at all: counted against the client's address only
		// (a throttle key per made-up name would be memory a stranger
		// chooses), and answered as any wrong sign-in.
		if ok, wait := s.try(r, []string{"addr:" + addrKey(clientAddr(r))}); !ok {
			s.render(w, r, http.StatusTooManyRequests, "signin", page{Title: "signin.title", Error: "signin.locked", Data: int(wait.Minutes()) + 1})
			return
		}
		s.render(w, r, http.StatusUnauthorized, "signin", page{Title: "signin.title", Error: "signin.bad"})
		return
	}
	keys := s.attemptKeys(r, email)
	if ok, wait := s.try(r, keys); !ok {
		s.render(w, r, http.StatusTooManyRequests, "signin", page{Title: "signin.title", Error: "signin.locked", Data: int(wait.Minutes()) + 1})
		return
	}
	r = ctxFor(r, nil)
	a, err := s.c.SignIn(r.Context(), email, []byte(password))
	if err == nil && (a.Role == hush.RolePatient) {
		a.Session.Wipe()
		a.Key = nil
		err = hush.Errorf(hush.EUNAUTHORIZED, "staff only")
	}
	if err != nil {
		if clinic.ErrFrozen(err) {
			// Only after the right password: a guesser learns nothing.
			s.render(w, r, http.StatusForbidden, "signin", page{Title: "signin.title", Error: "error.frozen"})
			return
		}
		if hush.ErrorCode(err) != hush.EUNAUTHORIZED {
			s.fail(w, r, err)
			return
		}
		s.render(w, r, http.StatusUnauthorized, "signin", page{Title: "signin.title", Error: "signin.bad"})
		return
	}
	// The account's count is not cleared here: the second step counts
	// against it too, and only a completed sign-in clears it (succeed).
	has, err := s.c.HasTOTP(r.Context(), a.UserID)
	if err != nil {
		a.Session.Wipe()
		a.Key = nil
		s.fail(w, r, err)
		return
	}
	st := stageMFA
	if !has {
		// No second factor yet (a new account, or one an admin reset):
		// the enrolment code comes first, so that the password alone
		// cannot enrol anyone's authenticator.
		st = stageCode
	}
	sess := s.sessions.create(a, email, st, s.now())
	sess.keys = keys
	setCookie(w, sess)
	if st == stageCode {
		http.Redirect(w, r, "/signin/code", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/signin/mfa", http.StatusSeeOther)
}

func (s *Server) mfaPage(w http.ResponseWriter, r *http.Request, sess *session) {
	s.render(w, r, http.StatusOK, "mfa", s.mfaView(r, sess, ""))
}

// mfaView is the second-step page: the code form, and the security-key
// button when the account has a key and keys are on.
func (s *Server) mfaView(r *http.Request, sess *session, errKey string) page {
	p := page{Title: "mfa.title", Error: errKey}
	if s.wa != nil {
		if keys, err := s.c.SecurityKeys(r.Context(), sess.actor.UserID); err == nil && len(keys) > 0 {
			p.Scripts, p.Data = []string{"webauthn.js"}, true
		}
	}
	return p
}

// addrKey groups IPv6 clients by /64, the block one subscriber holds.
func addrKey(a string) string {
	ip := net.ParseIP(a)
	if ip == nil || ip.To4() != nil {
		return a
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// stepAllowed counts one sign-in step (a code, a second factor) against
// the account and address limits; over them, the half-signed-in session
// ends and the sign-in page says how long to wait.
func (s *Server) stepAllowed(w http.ResponseWriter, r *http.Request, sess *session) bool {
	ok, wait := s.try(r, sess.keys)
	if !ok {
		s.sessions.drop(sess)
		clearCookie(w)
		s.render(w, r, http.StatusTooManyRequests, "signin", page{Title: "signin.title", Error: "signin.locked", Data: int(wait.Minutes()) + 1})
	}
	return ok
}

func (s *Server) mfa(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if !s.stepAllowed(w, r, sess) {
		return
	}
	if err := s.c.VerifySecondFactor(r.Context(), sess.actor.UserID, r.PostFormValue("code")); err != nil {
		if hush.ErrorCode(err) != hush.EUNAUTHORIZED {
			s.fail(w, r, err)
			return
		}
		s.secondFactorFailed(r, sess.actor.UserID)
		s.render(w, r, http.StatusUnauthorized, "mfa", s.mfaView(r, sess, "mfa.bad"))
		return
	}
	s.next(w, r, sess)
}

// next finishes sign-in: a user whose key pair came from a password someone
// else chose picks a new password first.
func (s *Server) next(w http.ResponseWriter, r *http.Request, sess *session) {
	path, err := s.nextStep(w, r, sess)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// nextStep moves a session past its second factor and returns where the
// browser goes next. The sign-in is complete: the account's (and the
// device's) count is cleared, and the browser becomes a known device.
func (s *Server) nextStep(w http.ResponseWriter, r *http.Request, sess *session) (string, error) {
	must, err := s.c.MustChangePassword(r.Context(), sess.actor.UserID)
	if err != nil {
		return "", err
	}
	s.succeed(sess)
	s.setDevice(w, sess)
	if must {
		sess.stage = stageChange
		return "/signin/password", nil
	}
	s.sessions.dropUser(sess.actor.UserID, sess) // old credentials: other sessions end
	s.promote(w, sess)
	return "/patients", nil
}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request, sess *session) {
	s.render(w, r, http.StatusOK, "password", page{Title: "pw.title"})
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	pw, again := r.PostFormValue("password"), r.PostFormValue("again")
	if pw != again {
		s.render(w, r, http.StatusBadRequest, "password", page{Title: "pw.title", Error: "pw.mismatch"})
		return
	}
	ctx := hush.WithActor(r.Context(), sess.actor)
	if err := s.c.ChangePassword(ctx, []byte(pw)); err != nil {
		if hush.ErrorCode(err) == hush.EINVALID {
			s.render(w, r, http.StatusBadRequest, "password", page{Title: "pw.title", Error: "pw.short"})
			return
		}
		s.fail(w, r, err)
		return
	}
	s.promote(w, sess)
	http.Redirect(w, r, "/patients", http.StatusSeeOther)
}

// promote makes a pending session a signed-in one under a new id, so an id
// seen before sign-in finished is worth nothing after.
func (s *Server) promote(w http.ResponseWriter, sess *session) {
	s.sessions.mu.Lock()
	delete(s.sessions.m, sess.id)
	s.sessions.mu.Unlock()
	next := s.sessions.create(sess.actor, sess.email, stageFull, s.now())
	next.created, next.keys = sess.created, sess.keys
	setCookie(w, next)
}

type enrollData struct {
	Key string
	URI template.URL  // otpauth:, built by the server from its own values
	QR  template.HTML // the same URI as an inline SVG QR code (no script, no request)
}

// enrollData shows the session's new TOTP key as text, as a link and as a
// QR code for a phone's authenticator app to scan.
func (s *Server) enrollData(r *http.Request, sess *session) enrollData {
	uri := auth.TOTPURI(sess.secret, "Hush "+s.c.Name(), sess.email)
	d := enrollData{Key: auth.TOTPSecretText(sess.secret), URI: template.URL(uri)}
	if code, err := qr.Encode([]byte(uri)); err == nil {
		// The SVG is built by package qr from the module matrix and an
		// escaped label: no input reaches it unescaped.
		d.QR = template.HTML(code.SVG(translate(lang(r), "enroll.qr"), 4))
	}
	return d
}

func (s *Server) enrollPage(w http.ResponseWriter, r *http.Request, sess *session) {
	if sess.secret == nil {
		sess.secret = auth.NewTOTPSecret()
	}
	s.render(w, r, http.StatusOK, "enroll", page{Title: "enroll.title", Data: s.enrollData(r, sess)})
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if sess.secret == nil {
		http.Redirect(w, r, "/signin/enroll", http.StatusSeeOther)
		return
	}
	codes, err := s.c.EnrollTOTP(r.Context(), sess.actor.UserID, sess.secret, r.PostFormValue("code"), sess.enrol)
	if err != nil {
		if hush.ErrorCode(err) == hush.EUNAUTHORIZED {
			// The enrolment code was spent by another sign-in, or expired
			// meanwhile: start again.
			s.sessions.drop(sess)
			clearCookie(w)
			s.render(w, r, http.StatusUnauthorized, "signin", page{Title: "signin.title", Error: "enrolcode.bad"})
			return
		}
		if hush.ErrorCode(err) != hush.EINVALID {
			s.fail(w, r, err)
			return
		}
		s.render(w, r, http.StatusBadRequest, "enroll", page{Title: "enroll.title", Error: "enroll.bad",
			Data: s.enrollData(r, sess)})
		return
	}
	clear(sess.secret)
	sess.secret, sess.codes, sess.stage, sess.enrol = nil, codes, stageCodes, ""
	s.sessions.dropUser(sess.actor.UserID, sess) // a new second factor: other sessions end
	http.Redirect(w, r, "/signin/codes", http.StatusSeeOther)
}

func (s *Server) codesPage(w http.ResponseWriter, r *http.Request, sess *session) {
	s.render(w, r, http.StatusOK, "codes", page{Title: "codes.title", Data: sess.codes})
}

func (s *Server) codesDone(w http.ResponseWriter, r *http.Request, sess *session) {
	sess.codes = nil
	s.next(w, r, sess)
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	if sess := s.sessions.get(r, s.now()); sess != nil {
		s.sessions.drop(sess)
	}
	clearCookie(w)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func (s *Server) user(r *http.Request, sess *session) *hush.User {
	u, err := s.c.User(r.Context(), sess.actor.UserID)
	if err != nil {
		return &hush.User{ID: sess.actor.UserID, Role: sess.actor.Role}
	}
	return &u
}

type patientsData struct {
	Query    string
	Mine     bool
	Patients []hush.Patient
}

func (s *Server) patients(w http.ResponseWriter, r *http.Request, sess *session) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := patientsData{Query: q}
	var err error
	switch {
	case q != "":
		d.Patients, err = s.c.SearchPatients(r.Context(), clinic.PatientQuery{Name: q})
	case sess.actor.Role == hush.RoleClinician:
		d.Mine = true
		d.Patients, err = s.c.MyPatients(r.Context())
	}
	if err != nil && hush.ErrorCode(err) != hush.EINVALID {
		s.fail(w, r, err)
		return
	}
	if err != nil {
		// The message is the domain's safe text: it names the rule, never
		// the input; the query is not shown back when it is not UTF-8.
		if !utf8.ValidString(d.Query) {
			d.Query = ""
		}
		s.render(w, r, http.StatusBadRequest, "patients", page{Title: "patients.title", User: s.user(r, sess), Data: d, Active: "patients",
			Error: "patients.invalid", Detail: hush.ErrorMessage(err)})
		return
	}
	s.render(w, r, http.StatusOK, "patients", page{Title: "patients.title", User: s.user(r, sess), Data: d, Active: "patients"})
}

type chartData struct {
	Patient   hush.Patient
	Team      []hush.User
	Notes     []hush.Note
	Older     []hush.Note
	Clinical  bool
	Requests  []clinic.CareTeamRequest
	Names     map[string]string
	Process   []clinic.ProcessNote
	Diagnoses []clinic.Diagnosis
	Measures  []measureSummary
	SelfHarm  bool
	DxInvalid bool
}

// fullNotes is how many notes a chart shows in full; older ones are listed
// by title and open on their own page, so a long chart stays light.
const fullNotes = 20

func (s *Server) chart(w http.ResponseWriter, r *http.Request, sess *session) {
	id := r.PathValue("id")
	v, err := s.c.ChartView(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := chartData{Patient: v.Patient, Clinical: v.Clinical, Diagnoses: v.Diagnoses, Notes: v.Notes}
	for _, uid := range v.Team {
		if u, err := s.c.User(r.Context(), uid); err == nil {
			d.Team = append(d.Team, u)
		}
	}
	if len(d.Notes) > fullNotes {
		d.Notes, d.Older = d.Notes[:fullNotes], d.Notes[fullNotes:]
	}
	d.Measures = s.measureSummaries(r, v.Measures)
	for _, m := range d.Measures {
		if m.Latest.Result.SelfHarm {
			d.SelfHarm = true
		}
	}
	d.DxInvalid = r.URL.Query().Get("dx") == "invalid"
	if v.Clinical {
		if d.Process, err = s.c.ProcessNotes(r.Context(), id); err != nil {
			s.fail(w, r, err)
			return
		}
		if d.Requests, err = s.c.CareTeamRequests(r.Context(), id); err != nil {
			s.fail(w, r, err)
			return
		}
		d.Names = map[string]string{}
		for _, u := range s.clinicians(r) {
			d.Names[u.ID] = u.Name
		}
	}
	s.render(w, r, http.StatusOK, "chart", page{Title: "chart.title", User: s.user(r, sess), Data: d, Active: "patients"})
}
