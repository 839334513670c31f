package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/auth"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/web"
)

const (
	pw    = "correct horse battery staple"
	newPW = "a passphrase of my own choosing"
)

// password returns a user's current password (it changes at first sign-in).
func (e *env) password(email string) string {
	if p, ok := e.pws[email]; ok {
		return p
	}
	return pw
}

type env struct {
	t     testing.TB
	c     *clinic.Clinic
	app   *web.Server
	srv   *httptest.Server
	pid   string
	now   time.Time
	keys  map[string][]byte // email -> TOTP secret once enrolled
	pws   map[string]string // email -> password after the first sign-in
	enrol map[string]string // email -> enrolment code for the first sign-in
}

// issueCode gives a user a new enrolment code, as the admin would.
func (e *env) issueCode(email string) string {
	e.t.Helper()
	u, err := e.c.UserByEmail(context.Background(), email)
	if err != nil {
		e.t.Fatal(err)
	}
	ec, err := e.c.IssueEnrolmentCode(context.Background(), u.ID, false)
	if err != nil {
		e.t.Fatal(err)
	}
	e.enrol[email] = ec.Code
	return ec.Code
}

func newEnv(t testing.TB) *env {
	t.Helper()
	saved := seal.Argon2Params
	seal.Argon2Params.MemoryKiB, seal.Argon2Params.Time = 1024, 1
	t.Cleanup(func() { seal.Argon2Params = saved })
	ctx := context.Background()
	c, _, err := clinic.Init(ctx, t.TempDir(), seal.NewTestKEK(), clinic.InitOptions{Name: "Test Clinic", AdminEmail: "admin@x.fi", AdminName: "Admin", AdminPassword: []byte(pw), Canaries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, u := range []struct {
		email, name string
		role        hush.Role
	}{{"maria@x.fi", "Maria Lindqvist", hush.RoleClinician}, {"juhani@x.fi", "Juhani R", hush.RoleClinician}, {"desk@x.fi", "Riikka Desk", hush.RoleReception}} {
		if _, err := c.AddUser(ctx, clinic.NewUser{Email: u.email, Name: u.name, Role: u.role, Password: []byte(pw)}); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := c.SignIn(ctx, "maria@x.fi", []byte(pw))
	actx := hush.WithActor(ctx, a)
	p, err := c.CreatePatient(actx, hush.Patient{Family: "Virtanen", Given: []string{"Aino"}, BirthDate: "1990-02-03"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateNote(actx, p.ID, clinic.NoteInput{Kind: hush.KindSOAP, Status: hush.StatusSigned, Title: "Session 1", Text: "S: sleeping better"}); err != nil {
		t.Fatal(err)
	}
	app, err := web.New(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: c, app: app, pid: p.ID, now: time.Now(), keys: map[string][]byte{}, pws: map[string]string{}, enrol: map[string]string{}}
	for _, email := range []string{"admin@x.fi", "maria@x.fi", "juhani@x.fi", "desk@x.fi"} {
		e.issueCode(email)
	}
	app.SetClock(func() time.Time { return e.now })
	c.SetClock(func() time.Time { return e.now })
	e.srv = httptest.NewTLSServer(app)
	t.Cleanup(e.srv.Close)
	return e
}

type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	// A client of its own (the server's Client is shared): one cookie jar
	// per browser.
	c := &http.Client{Transport: e.srv.Client().Transport, Jar: jar}
	return &browser{e: e, c: c}
}

type page struct {
	status int
	body   string
	url    string
	header http.Header
}

func (b *browser) get(path string) page {
	b.e.t.Helper()
	resp, err := b.c.Get(b.e.srv.URL + path)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return read(b.e.t, resp)
}

func (b *browser) post(path string, form url.Values, hdr ...string) page {
	b.e.t.Helper()
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return read(b.e.t, resp)
}

func read(t testing.TB, resp *http.Response) page {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	checkHeaders(t, resp)
	return page{status: resp.StatusCode, body: string(body), url: resp.Request.URL.Path, header: resp.Header}
}

// checkHeaders: the security headers are on every response.
func checkHeaders(t testing.TB, resp *http.Response) {
	t.Helper()
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") {
		t.Errorf("%s: CSP %q", resp.Request.URL.Path, csp)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("Strict-Transport-Security") == "" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: headers %v", resp.Request.URL.Path, h)
	}
}

var keyRE = regexp.MustCompile(`data-testid="totp-key">([A-Z2-7]+)<`)
var codeRE = regexp.MustCompile(`<code>([a-z2-7]{5}-[a-z2-7]{5})</code>`)

// signIn signs a user in, enrolling TOTP the first time.
func (b *browser) signIn(email string) []string {
	b.e.t.Helper()
	p := b.post("/signin", url.Values{"email": {email}, "password": {b.e.password(email)}})
	var codes []string
	if p.url == "/signin/code" {
		p = b.post("/signin/code", url.Values{"code": {b.e.enrol[email]}})
	}
	switch p.url {
	case "/signin/enroll":
		m := keyRE.FindStringSubmatch(p.body)
		if m == nil {
			b.e.t.Fatalf("no key on the enrolment page: %s", p.body)
		}
		secret, _ := auth.TOTPSecretFromText(m[1])
		b.e.keys[email] = secret
		p = b.post("/signin/enroll", url.Values{"code": {auth.TOTPCode(secret, auth.StepAt(b.e.now))}})
		if p.url != "/signin/codes" {
			b.e.t.Fatalf("after enrolment at %s: %s", p.url, p.body)
		}
		for _, m := range codeRE.FindAllStringSubmatch(p.body, -1) {
			codes = append(codes, m[1])
		}
		p = b.post("/signin/codes", nil)
	case "/signin/mfa":
		b.e.now = b.e.now.Add(auth.TOTPStep) // a fresh code: each works once
		p = b.post("/signin/mfa", url.Values{"code": {auth.TOTPCode(b.e.keys[email], auth.StepAt(b.e.now))}})
	default:
		b.e.t.Fatalf("sign-in landed on %s (%d)", p.url, p.status)
	}
	if p.url == "/signin/password" {
		// First sign-in: choose a new password (and get a new key pair).
		if again := b.post("/signin/password", url.Values{"password": {pw}, "again": {pw}}); again.status != 400 {
			b.e.t.Fatalf("the temporary password was accepted as the new one: %d", again.status)
		}
		p = b.post("/signin/password", url.Values{"password": {newPW}, "again": {newPW}})
		b.e.pws[email] = newPW
	}
	if p.url != "/patients" || p.status != 200 {
		b.e.t.Fatalf("signed in at %s (%d): %s", p.url, p.status, p.body)
	}
	return codes
}

func TestSignInEnrolMFAAndSignOut(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	if p := b.get("/patients"); p.url != "/signin" {
		t.Fatalf("unauthenticated /patients went to %s", p.url)
	}
	if p := b.post("/signin", url.Values{"email": {"maria@x.fi"}, "password": {"wrong password!"}}); p.status != 401 || !strings.Contains(p.body, "wrong") {
		t.Fatalf("wrong password: %d", p.status)
	}
	codes := b.signIn("maria@x.fi")
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	p := b.get("/patients")
	if !strings.Contains(p.body, "Virtanen") || !strings.Contains(p.body, "My patients") {
		t.Fatalf("my patients: %s", p.body)
	}
	p = b.get("/patients/" + e.pid)
	if !strings.Contains(p.body, "S: sleeping better") || !strings.Contains(p.body, "Signed") {
		t.Fatalf("chart: %s", p.body)
	}
	b.post("/signout", nil)
	if p := b.get("/patients"); p.url != "/signin" {
		t.Fatal("still signed in after sign-out")
	}
	// Second sign-in: TOTP, then a recovery code another time.
	b2 := e.browser()
	b2.signIn("maria@x.fi")
	b3 := e.browser()
	b3.post("/signin", url.Values{"email": {"maria@x.fi"}, "password": {e.password("maria@x.fi")}})
	if p := b3.post("/signin/mfa", url.Values{"code": {codes[0]}}); p.url != "/patients" {
		t.Fatalf("recovery code: %s", p.url)
	}
	b4 := e.browser()
	b4.post("/signin", url.Values{"email": {"maria@x.fi"}, "password": {e.password("maria@x.fi")}})
	if p := b4.post("/signin/mfa", url.Values{"code": {codes[0]}}); p.status != 401 {
		t.Fatalf("spent recovery code: %d", p.status)
	}
}

func TestCookieAndTimeouts(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	p := b.post("/signin", url.Values{"email": {"maria@x.fi"}, "password": {pw}})
	_ = p
	u, _ := url.Parse(e.srv.URL)
	var found bool
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "__Host-hush" {
			found = true
		}
	}
	if !found {
		t.Fatal("no __Host- session cookie")
	}
	// The raw Set-Cookie carries the attributes.
	noFollow := &http.Client{Transport: e.srv.Client().Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.PostForm(e.srv.URL+"/signin", url.Values{"email": {"maria@x.fi"}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := strings.Join(resp.Header.Values("Set-Cookie"), ";")
	for _, want := range []string{"__Host-hush=", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	b = e.browser()
	b.signIn("maria@x.fi")
	e.now = e.now.Add(14 * time.Minute)
	if p := b.get("/patients"); p.url != "/patients" {
		t.Fatal("signed out before the idle timeout")
	}
	e.now = e.now.Add(16 * time.Minute)
	if p := b.get("/patients"); p.url != "/signin" {
		t.Fatal("still signed in after 16 idle minutes")
	}
	b.signIn("maria@x.fi")
	for i := 0; i < 60; i++ { // active all day
		e.now = e.now.Add(14 * time.Minute)
		if p := b.get("/patients"); p.url != "/signin" {
			continue
		}
		if i*14 < 12*60-20 {
			t.Fatalf("signed out after %d minutes of activity", i*14)
		}
		return
	}
	t.Fatal("the 12-hour limit did not end the session")
}

func TestLockout(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	var p page
	for i := 0; i < 5; i++ {
		p = b.post("/signin", url.Values{"email": {"desk@x.fi"}, "password": {"guess number " + string(rune('a'+i))}})
	}
	p = b.post("/signin", url.Values{"email": {"desk@x.fi"}, "password": {pw}})
	if p.status != 429 || !strings.Contains(p.body, "Too many attempts") {
		t.Fatalf("after 5 failures: %d %s", p.status, p.body)
	}
	e.now = e.now.Add(16 * time.Minute)
	if p := b.post("/signin", url.Values{"email": {"desk@x.fi"}, "password": {pw}}); p.url != "/signin/code" {
		t.Fatalf("after the lockout: %s", p.url)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("maria@x.fi")
	if p := b.post("/signout", nil, "Sec-Fetch-Site", "cross-site"); p.status != 403 {
		t.Fatalf("cross-site POST: %d", p.status)
	}
	if p := b.get("/patients"); p.url != "/patients" {
		t.Fatal("a cross-site POST signed the user out")
	}
}

func TestReceptionSeesNoClinicalContent(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("desk@x.fi")
	p := b.get("/patients?q=virt")
	if !strings.Contains(p.body, "Virtanen") {
		t.Fatalf("search: %s", p.body)
	}
	p = b.get("/patients/" + e.pid)
	if p.status != 200 || strings.Contains(p.body, "sleeping better") || !strings.Contains(p.body, "does not show clinical content") {
		t.Fatalf("reception chart: %d %s", p.status, p.body)
	}
	// A clinician outside the care team gets 403.
	j := e.browser()
	j.signIn("juhani@x.fi")
	if p := j.get("/patients/" + e.pid); p.status != 403 || strings.Contains(p.body, "sleeping better") {
		t.Fatalf("outside the care team: %d", p.status)
	}
	if p := j.get("/patients/nonexistent"); p.status != 404 {
		t.Fatalf("unknown patient: %d", p.status)
	}
}

func TestFinnishAndCatalog(t *testing.T) {
	for key := range web.Catalog["en"] {
		if _, ok := web.Catalog["fi"][key]; !ok {
			t.Errorf("no Finnish for %s", key)
		}
	}
	for key := range web.Catalog["fi"] {
		if _, ok := web.Catalog["en"][key]; !ok {
			t.Errorf("no English for %s", key)
		}
	}
	e := newEnv(t)
	b := e.browser()
	p := b.get("/signin?lang=fi")
	if !strings.Contains(p.body, "Kirjaudu sisään") || !strings.Contains(p.body, `lang="fi"`) {
		t.Fatalf("Finnish page: %s", p.body)
	}
	// The choice sticks (cookie).
	if p := b.get("/signin"); !strings.Contains(p.body, "Salasana") {
		t.Fatal("language choice not kept")
	}
	// No page shows a raw catalog key.
	b.signIn("maria@x.fi")
	for _, path := range []string{"/patients", "/patients/" + e.pid, "/patients?q=zzz"} {
		p := b.get(path)
		if m := regexp.MustCompile(`>(\w+\.\w+)<`).FindStringSubmatch(p.body); m != nil && web.Catalog["en"][m[1]] != "" {
			t.Errorf("%s shows the raw key %s", path, m[1])
		}
	}
}

var noteIDRE = regexp.MustCompile(`id="note-([0-9a-f]{32})"`)

// TestNoteEditor: a clinician writes a SOAP note from its template, saves a
// draft, signs it, amends it and sees both versions; a signed note cannot
// be edited in place (the typed text is kept); reception cannot reach a note
// by URL guessing.
func TestNoteEditor(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("maria@x.fi")
	p := b.get("/patients/" + e.pid + "/notes/new?kind=SOAP")
	if !strings.Contains(p.body, "Subjective:") || !strings.Contains(p.body, "Assessment:") {
		t.Fatalf("SOAP template: %s", p.body)
	}
	p = b.post("/patients/"+e.pid+"/notes", url.Values{"kind": {"SOAP"}, "title": {"Session 2"}, "text": {"Subjective:\nslept well\nPlan:\ncontinue"}, "action": {"draft"}})
	if p.url != "/patients/"+e.pid || !strings.Contains(p.body, "slept well") || !strings.Contains(p.body, "Draft") {
		t.Fatalf("after saving a draft: %s %s", p.url, p.body)
	}
	ids := noteIDRE.FindAllStringSubmatch(p.body, -1)
	var nid string
	for _, m := range ids {
		if strings.Contains(p.body[strings.Index(p.body, m[0]):], "Session 2") {
			nid = m[1]
			break
		}
	}
	if nid == "" {
		t.Fatal("no id for the new note")
	}
	p = b.post("/notes/"+nid, url.Values{"kind": {"SOAP"}, "title": {"Session 2"}, "text": {"Subjective:\nslept well\nPlan:\ncontinue CBT"}, "action": {"sign"}, "version": {"1"}})
	if !strings.Contains(p.body, "continue CBT") || !strings.Contains(p.body, "Signed") {
		t.Fatalf("after signing: %s", p.body)
	}
	edit := b.get("/notes/" + nid + "/edit")
	if !strings.Contains(edit.body, "Amend signed note") || strings.Contains(edit.body, `value="sign"`) {
		t.Fatalf("edit of a signed note: %s", edit.body)
	}
	// Editing in place is refused, and the text typed is kept on the page.
	p = b.post("/notes/"+nid, url.Values{"kind": {"SOAP"}, "text": {"rewritten history"}, "action": {"sign"}, "version": {"2"}})
	if p.status != 409 || !strings.Contains(p.body, "rewritten history") {
		t.Fatalf("edit in place: %d %s", p.status, p.body)
	}
	p = b.post("/notes/"+nid, url.Values{"kind": {"SOAP"}, "text": {"Subjective:\nslept well\nPlan:\ncontinue CBT\nAmendment: two sessions a week"}, "action": {"amend"}, "version": {"2"}})
	if !strings.Contains(p.body, "two sessions a week") || !strings.Contains(p.body, "Amended") {
		t.Fatalf("after amending: %s", p.body)
	}
	h := b.get("/notes/" + nid + "/history")
	if !strings.Contains(h.body, "continue CBT") || !strings.Contains(h.body, "two sessions a week") || strings.Count(h.body, "<article") != 3 {
		t.Fatalf("history: %s", h.body)
	}
	desk := e.browser()
	desk.signIn("desk@x.fi")
	for _, path := range []string{"/notes/" + nid + "/edit", "/notes/" + nid + "/history", "/patients/" + e.pid + "/notes/new"} {
		if p := desk.get(path); p.status != 403 || strings.Contains(p.body, "slept well") {
			t.Errorf("reception at %s: %d", path, p.status)
		}
	}
	if p := desk.post("/patients/"+e.pid+"/notes", url.Values{"kind": {"free"}, "text": {"x"}, "action": {"sign"}}); p.status != 403 {
		t.Errorf("reception writing a note: %d", p.status)
	}
}

// TestAutosave: the editor script's requests save drafts only, answer
// JSON, move the form to the draft's newest version, and never overwrite
// a newer version or sign.
func TestAutosave(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("maria@x.fi")
	auto := []string{"Hush-Autosave", "1"}
	form := url.Values{"kind": {"SOAP"}, "title": {"Draft A"}, "text": {"Subjective:\nfirst words"}, "action": {"draft"}, "version": {"0"}}
	p := b.post("/patients/"+e.pid+"/notes", form, auto...)
	var got struct {
		Action  string `json:"action"`
		Version int    `json:"version"`
		Message string `json:"message"`
	}
	if p.status != 200 || json.Unmarshal([]byte(p.body), &got) != nil || !strings.HasPrefix(got.Action, "/notes/") || got.Version != 1 || !strings.HasPrefix(got.Message, "Draft saved at ") {
		t.Fatalf("first autosave: %d %s", p.status, p.body)
	}
	form.Set("text", "Subjective:\nfirst words, then more")
	form.Set("version", "1")
	if p = b.post(got.Action, form, auto...); p.status != 200 || !strings.Contains(p.body, `"version":2`) {
		t.Fatalf("second autosave: %d %s", p.status, p.body)
	}
	// A stale version (another tab) is refused, not overwritten.
	if p = b.post(got.Action, form, auto...); p.status != 409 || strings.Contains(p.body, "first words") {
		t.Fatalf("stale autosave: %d %s", p.status, p.body)
	}
	// Autosave never signs.
	form.Set("action", "sign")
	form.Set("version", "2")
	if p = b.post(got.Action, form, auto...); p.status != 400 {
		t.Fatalf("autosave signing: %d %s", p.status, p.body)
	}
	n, err := e.c.Note(hush.WithActor(context.Background(), e.actor(t, "maria@x.fi")), strings.TrimPrefix(got.Action, "/notes/"), 0)
	if err != nil || n.Status != hush.StatusDraft || n.Version != 2 || n.Text != "Subjective:\nfirst words, then more" {
		t.Fatalf("stored draft: %+v %v", n, err)
	}
	if edit := b.get(got.Action + "/edit"); !strings.Contains(edit.body, `src="/static/autosave.js"`) || !strings.Contains(edit.body, "data-autosave") {
		t.Fatalf("the draft editor loads no autosave script: %s", edit.body)
	}
}

var apptRE = regexp.MustCompile(`href="/appointments/([0-9a-f]{32})"`)

// TestReceptionCalendar: reception books, moves and cancels an appointment
// (Helsinki time), a double booking is refused with the form kept, and the
// clinician sees the appointment on their day.
func TestReceptionCalendar(t *testing.T) {
	e := newEnv(t)
	e.now = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC) // 10:00 in Helsinki
	maria, err := e.c.UserByEmail(context.Background(), "maria@x.fi")
	if err != nil {
		t.Fatal(err)
	}
	desk := e.browser()
	desk.signIn("desk@x.fi")
	form := desk.get("/appointments/new?patient=" + e.pid)
	if !strings.Contains(form.body, "Maria Lindqvist") {
		t.Fatalf("booking form: %s", form.body)
	}
	p := desk.post("/appointments", url.Values{"patient": {e.pid}, "clinician": {maria.ID}, "date": {"2026-11-26"}, "time": {"14:00"}, "minutes": {"45"}})
	if !strings.Contains(p.body, "14:00–14:45") || !strings.Contains(p.body, "Virtanen") {
		t.Fatalf("day view after booking: %s", p.body)
	}
	m := apptRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatal("no appointment link")
	}
	// Double booking.
	p = desk.post("/appointments", url.Values{"patient": {e.pid}, "clinician": {maria.ID}, "date": {"2026-11-26"}, "time": {"14:30"}, "minutes": {"30"}})
	if p.status != 409 || !strings.Contains(p.body, "already has an appointment") || !strings.Contains(p.body, `value="14:30"`) {
		t.Fatalf("double booking: %d %s", p.status, p.body)
	}
	// Move to the next day, 09:15.
	p = desk.post("/appointments/"+m[1], url.Values{"action": {"move"}, "date": {"2026-11-27"}, "time": {"09:15"}, "minutes": {"60"}})
	if !strings.Contains(p.body, "09:15–10:15") {
		t.Fatalf("after moving: %s", p.body)
	}
	week := desk.get("/calendar?view=week&date=2026-11-26")
	if !strings.Contains(week.body, "Friday 27.11.") || !strings.Contains(week.body, "09:15") {
		t.Fatalf("week view: %s", week.body)
	}
	// The clinician sees it on her day (the next day).
	e.now = e.now.Add(24 * time.Hour)
	doc := e.browser()
	doc.signIn("maria@x.fi")
	day := doc.get("/")
	if !strings.Contains(day.body, "My day") || !strings.Contains(day.body, "09:15") {
		t.Fatalf("my day: %s", day.body)
	}
	desk = e.browser() // the day has passed: sign in again
	desk.signIn("desk@x.fi")
	p = desk.post("/appointments/"+m[1], url.Values{"action": {"cancel"}})
	if !strings.Contains(p.body, "Cancelled") {
		t.Fatalf("after cancelling: %s", p.body)
	}
	if p := desk.post("/appointments/"+m[1], url.Values{"action": {"noshow"}}); p.status != 409 {
		t.Fatalf("no-show after cancel: %d", p.status)
	}
}

// TestMeasuresOnChart: a clinician fills a PHQ-9; the chart shows the score
// and band, flags item 9 visibly, and draws the trend as inline SVG; a
// diagnosis is added and resolved; reception sees none of it.
func TestMeasuresOnChart(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("maria@x.fi")
	form := b.get("/patients/" + e.pid + "/measures/new?instrument=PHQ-9")
	if strings.Count(form.body, "<fieldset>") != 9 || !strings.Contains(form.body, "Nearly every day") {
		t.Fatalf("PHQ-9 form: %s", form.body)
	}
	answers := url.Values{"instrument": {"PHQ-9"}}
	for i, v := range []string{"2", "2", "1", "1", "1", "1", "1", "1"} {
		answers.Set("q"+strconv.Itoa(i+1), v)
	}
	if p := b.post("/patients/"+e.pid+"/measures", answers); p.status != 400 || !strings.Contains(p.body, "Answer every question") {
		t.Fatalf("incomplete PHQ-9: %d", p.status)
	}
	answers.Set("q9", "1")
	p := b.post("/patients/"+e.pid+"/measures", answers)
	if !strings.Contains(p.body, "PHQ-9: 11 · Moderate") || !strings.Contains(p.body, `role="alert" class="alert"`) || !strings.Contains(p.body, "<svg") {
		t.Fatalf("chart after PHQ-9: %s", p.body)
	}
	p = b.post("/patients/"+e.pid+"/diagnoses", url.Values{"code": {"f32.1"}, "text": {"Moderate depressive episode"}, "action": {"set"}})
	if !strings.Contains(p.body, "<strong>F32.1</strong> Moderate depressive episode") {
		t.Fatalf("diagnosis: %s", p.body)
	}
	if p := b.post("/patients/"+e.pid+"/diagnoses", url.Values{"code": {"depression"}, "action": {"set"}}); !strings.Contains(p.body, "An ICD-10 code is") {
		t.Fatal("bad code not explained")
	}
	p = b.post("/patients/"+e.pid+"/diagnoses", url.Values{"code": {"F32.1"}, "action": {"resolve"}})
	if strings.Contains(p.body, "<strong>F32.1</strong>") {
		t.Fatal("resolved diagnosis still listed")
	}
	desk := e.browser()
	desk.signIn("desk@x.fi")
	chart := desk.get("/patients/" + e.pid)
	if strings.Contains(chart.body, "PHQ-9: 11") || strings.Contains(chart.body, "<svg") || strings.Contains(chart.body, "F32") {
		t.Fatal("reception sees clinical content")
	}
	if p := desk.get("/patients/" + e.pid + "/measures/new"); p.status != 403 {
		t.Fatalf("reception questionnaire form: %d", p.status)
	}
}

// TestReceptionRegistersPatient: reception registers a patient for a named
// clinician; an invalid identity code is explained without echoing it and
// the form keeps what was typed; the clinician then holds the record.
func TestReceptionRegistersPatient(t *testing.T) {
	e := newEnv(t)
	maria, _ := e.c.UserByEmail(context.Background(), "maria@x.fi")
	desk := e.browser()
	desk.signIn("desk@x.fi")
	form := url.Values{"family": {"Korhonen"}, "given": {"Eino Ilmari"}, "hetu": {"131052-308A"}, "phone": {"+358 40 123 4567"}, "clinician": {maria.ID}}
	p := desk.post("/patients", form)
	if p.status != 400 || !strings.Contains(p.body, "check character") || !strings.Contains(p.body, `value="Korhonen"`) {
		t.Fatalf("invalid HETU: %d %s", p.status, p.body)
	}
	if strings.Count(p.body, "131052-308A") != 1 { // only in the input field, not in the message
		t.Fatalf("the error echoes the code")
	}
	form.Set("hetu", "131052-308T")
	p = desk.post("/patients", form)
	if p.status != 200 || !strings.Contains(p.body, "<h1>Korhonen, Eino, Ilmari</h1>") || !strings.Contains(p.body, "Maria Lindqvist") {
		t.Fatalf("after registering: %d %s", p.status, p.body)
	}
	doc := e.browser()
	doc.signIn("maria@x.fi")
	if p := doc.get("/patients"); !strings.Contains(p.body, "Korhonen") {
		t.Fatal("the new patient is not on the clinician's list")
	}
}

func TestProcessNotesPrivate(t *testing.T) {
	e := newEnv(t)
	maria, _ := e.c.UserByEmail(context.Background(), "maria@x.fi")
	juhani, _ := e.c.UserByEmail(context.Background(), "juhani@x.fi")
	b := e.browser()
	b.signIn("maria@x.fi")
	// Share the record with Juhani.
	a, _ := e.c.SignIn(context.Background(), "maria@x.fi", []byte(e.password("maria@x.fi")))
	if _, err := e.c.SetCareTeam(hush.WithActor(context.Background(), a), e.pid, []string{maria.ID, juhani.ID}); err != nil {
		t.Fatal(err)
	}
	p := b.post("/patients/"+e.pid+"/process", url.Values{"text": {"I felt protective today"}})
	if !strings.Contains(p.body, "I felt protective today") || !strings.Contains(p.body, "Only you can open these") {
		t.Fatalf("process note: %s", p.body)
	}
	j := e.browser()
	j.signIn("juhani@x.fi")
	if p := j.get("/patients/" + e.pid); p.status != 200 || strings.Contains(p.body, "protective") || !strings.Contains(p.body, "S: sleeping better") {
		t.Fatalf("colleague's chart: %d", p.status)
	}
}

// TestAdminPages: the admin pages exist only on the admin server; an admin
// adds and deactivates users and files a care-team request that a
// clinician holding the record grants; reception is refused.
func TestAdminPages(t *testing.T) {
	e := newEnv(t)
	if p := e.browser().get("/admin/users"); p.status != 404 && p.url != "/signin" {
		t.Fatalf("public server has /admin: %d %s", p.status, p.url)
	}
	public := e.useAdminServer()
	admin := e.browser()
	admin.signIn("admin@x.fi")
	p := admin.get("/admin/users")
	if !strings.Contains(p.body, "Maria Lindqvist") || !strings.Contains(p.body, "Add a user") {
		t.Fatalf("users page: %s", p.body)
	}
	p = admin.post("/admin/users", url.Values{"name": {"Leena Ahonen"}, "email": {"leena@x.fi"}, "role": {"clinician"}, "password": {pw}})
	if !strings.Contains(p.body, "leena@x.fi") {
		t.Fatalf("after adding: %s", p.body)
	}
	// The enrolment code is shown once, to hand over apart from the password.
	code := regexp.MustCompile(`data-testid="enrolment-code">([a-z2-7-]{23})<`).FindStringSubmatch(p.body)
	if code == nil {
		t.Fatalf("no enrolment code shown: %s", p.body)
	}
	e.enrol["leena@x.fi"] = code[1]
	if p := admin.get("/admin/users"); strings.Contains(p.body, code[1]) {
		t.Fatal("the enrolment code is shown again")
	}
	if p := admin.post("/admin/users", url.Values{"name": {"X"}, "email": {"leena@x.fi"}, "role": {"clinician"}, "password": {pw}}); p.status != 400 || !strings.Contains(p.body, "already exists") {
		t.Fatalf("duplicate: %d", p.status)
	}
	leena, _ := e.c.UserByEmail(context.Background(), "leena@x.fi")
	// A care-team request for Leena on Aino's record.
	p = admin.get("/admin/careteam?patient=" + e.pid)
	if !strings.Contains(p.body, "You cannot grant a record yourself") || strings.Contains(p.body, "sleeping better") {
		t.Fatalf("care-team page: %s", p.body)
	}
	admin.post("/admin/careteam", url.Values{"patient": {e.pid}, "clinician": {leena.ID}})
	if p := admin.get("/admin/audit?patient=" + e.pid); !strings.Contains(p.body, "careteam.request") {
		t.Fatalf("audit viewer: %s", p.body)
	}
	desk := e.browser()
	desk.signIn("desk@x.fi")
	if p := desk.get("/admin/users"); p.status != 403 {
		t.Fatalf("reception on admin pages: %d", p.status)
	}
	// Maria (on the public server) sees the request and grants it.
	e.srv = public
	doc := e.browser()
	doc.signIn("maria@x.fi")
	chart := doc.get("/patients/" + e.pid)
	m := regexp.MustCompile(`action="/requests/([0-9a-f]{32})"`).FindStringSubmatch(chart.body)
	if m == nil {
		t.Fatalf("no request on the chart: %s", chart.body)
	}
	doc.post("/requests/"+m[1], url.Values{"patient": {e.pid}, "action": {"grant"}})
	l := e.browser()
	l.signIn("leena@x.fi")
	if p := l.get("/patients/" + e.pid); !strings.Contains(p.body, "S: sleeping better") {
		t.Fatalf("Leena after the grant: %d", p.status)
	}
	// Deactivation from the admin page.
	e.useAdminServer()
	admin = e.browser()
	admin.signIn("admin@x.fi")
	admin.post("/admin/users/"+leena.ID+"/deactivate", nil)
	if u, _ := e.c.UserByEmail(context.Background(), "leena@x.fi"); u.Active {
		t.Fatal("not deactivated")
	}
}

// TestSecondStepGuessing: a burst of parallel wrong codes on one pending
// session gets at most the throttle's limit of checks; the session ends.
func TestSecondStepGuessing(t *testing.T) {
	e := newEnv(t)
	e.browser().signIn("maria@x.fi") // enrolled
	b := e.browser()
	b.post("/signin", url.Values{"email": {"maria@x.fi"}, "password": {e.password("maria@x.fi")}})
	var mu sync.Mutex
	checked := 0
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := b.post("/signin/mfa", url.Values{"code": {fmt.Sprintf("%06d", i)}})
			if p.status == 401 {
				mu.Lock()
				checked++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if checked > 5 {
		t.Fatalf("%d codes checked in a burst, limit 5", checked)
	}
}

// TestStaleEnrolmentCannotHijack: someone who opened the enrolment page
// with the temporary password cannot replace the second factor the user
// then enrolled; their session ends when the user enrols.
func TestStaleEnrolmentCannotHijack(t *testing.T) {
	e := newEnv(t)
	attacker := e.browser()
	// The worst case: the attacker has the enrolment code too.
	attacker.post("/signin", url.Values{"email": {"juhani@x.fi"}, "password": {pw}})
	p := attacker.post("/signin/code", url.Values{"code": {e.enrol["juhani@x.fi"]}})
	if p.url != "/signin/enroll" {
		t.Fatalf("attacker at %s", p.url)
	}
	secret, _ := auth.TOTPSecretFromText(keyRE.FindStringSubmatch(p.body)[1])
	e.browser().signIn("juhani@x.fi") // the real user enrols and changes the password
	p = attacker.post("/signin/enroll", url.Values{"code": {auth.TOTPCode(secret, auth.StepAt(e.now))}})
	if p.url == "/signin/codes" || p.url == "/patients" || p.url == "/signin/password" {
		t.Fatalf("a stale enrolment went through: %s", p.url)
	}
	// The user's own second factor still works.
	e.browser().signIn("juhani@x.fi")
}

// TestDeactivationEndsWebSessions: a deactivated account's open session
// stops working at its next request.
func TestDeactivationEndsWebSessions(t *testing.T) {
	e := newEnv(t)
	desk := e.browser()
	desk.signIn("desk@x.fi")
	if err := e.c.DeactivateUser(context.Background(), "desk@x.fi"); err != nil {
		t.Fatal(err)
	}
	if p := desk.get("/patients?q=virt"); p.url != "/signin" || strings.Contains(p.body, "Virtanen") {
		t.Fatalf("deactivated session: %s", p.url)
	}
}

func TestReceptionEditsContactDetails(t *testing.T) {
	e := newEnv(t)
	desk := e.browser()
	desk.signIn("desk@x.fi")
	form := desk.get("/patients/" + e.pid + "/edit")
	if !strings.Contains(form.body, `value="Virtanen"`) {
		t.Fatalf("edit form: %s", form.body)
	}
	p := desk.post("/patients/"+e.pid, url.Values{"family": {"Virtanen"}, "given": {"Aino"}, "birthDate": {"1990-02-03"}, "phone": {"+358 50 765 4321"}})
	if !strings.Contains(p.body, "358 50 765 4321") {
		t.Fatalf("after saving: %s", p.body)
	}
	if p := desk.post("/patients/"+e.pid, url.Values{"family": {"Virtanen"}, "birthDate": {"1990-02-03"}, "phone": {"call me"}}); p.status != 400 || !strings.Contains(p.body, "phone") {
		t.Fatalf("bad phone: %d", p.status)
	}
}

var (
	fieldRE = regexp.MustCompile(`<(input|select|textarea)\b([^>]*)>`)
	idRE    = regexp.MustCompile(`\bid="([^"]+)"`)
	typeRE  = regexp.MustCompile(`\btype="([^"]+)"`)
)

// checkPage applies the static accessibility and weight rules a page must
// meet before axe-core runs on it in a browser: a language, one h1, a main
// landmark, a label for every field, header cells with scope, and well
// under 100 KB.
func checkPage(t *testing.T, path string, p page) {
	t.Helper()
	if p.status != 200 {
		t.Errorf("%s: status %d", path, p.status)
		return
	}
	b := p.body
	if !regexp.MustCompile(`<html lang="(en|fi)">`).MatchString(b) {
		t.Errorf("%s: no lang", path)
	}
	if n := strings.Count(b, "<h1"); n != 1 {
		t.Errorf("%s: %d h1 elements", path, n)
	}
	if !strings.Contains(b, `<main id="main">`) {
		t.Errorf("%s: no main landmark", path)
	}
	for _, m := range fieldRE.FindAllStringSubmatch(b, -1) {
		attrs := m[2]
		if ty := typeRE.FindStringSubmatch(attrs); ty != nil && (ty[1] == "hidden" || ty[1] == "submit") {
			continue
		}
		if strings.Contains(attrs, `type="radio"`) {
			continue // inside a <label> in a fieldset with a legend
		}
		id := idRE.FindStringSubmatch(attrs)
		if id == nil || !strings.Contains(b, `<label for="`+id[1]+`"`) {
			t.Errorf("%s: a %s without a label: %s", path, m[1], m[0])
		}
	}
	if strings.Contains(b, "<table") && !strings.Contains(b, `<th scope="col"`) {
		t.Errorf("%s: a table without header cells", path)
	}
	if len(b) > 100<<10 {
		t.Errorf("%s: %d bytes", path, len(b))
	}
}

func TestPagesAccessibleAndLight(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	checkPage(t, "/signin", b.get("/signin"))
	checkPage(t, "/signin?lang=fi", b.get("/signin?lang=fi"))
	b.get("/signin?lang=en")
	b.signIn("maria@x.fi")
	b.post("/patients/"+e.pid+"/diagnoses", url.Values{"code": {"F32.1"}, "text": {"x"}, "action": {"set"}})
	for _, path := range []string{"/", "/patients", "/patients?q=virt", "/patients/" + e.pid, "/patients/" + e.pid + "/notes/new",
		"/patients/" + e.pid + "/measures/new?instrument=GAD-7", "/calendar", "/calendar?view=day", "/appointments/new?patient=" + e.pid,
		"/patients/new", "/patients/" + e.pid + "/edit"} {
		checkPage(t, path, b.get(path))
	}
	css := b.get("/static/style.css")
	if css.status != 200 || len(css.body) > 10<<10 {
		t.Errorf("stylesheet: %d, %d bytes", css.status, len(css.body))
	}
	adminApp, _ := web.NewAdmin(e.c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	adminApp.SetClock(func() time.Time { return e.now })
	e.srv = httptest.NewTLSServer(adminApp)
	defer e.srv.Close()
	a := e.browser()
	a.signIn("admin@x.fi")
	for _, path := range []string{"/admin/users", "/admin/careteam?patient=" + e.pid, "/admin/audit"} {
		checkPage(t, path, a.get(path))
	}
}

// actor signs a user in to the clinic directly (as the API would).
func (e *env) actor(t *testing.T, email string) *hush.Actor {
	t.Helper()
	a, err := e.c.SignIn(context.Background(), email, []byte(e.password(email)))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestTripwireFreezesWebSession: a browser session that crosses the chart
// limit is refused with a clear message, ends at once, cannot sign in
// again, and an admin sees the alert with its audit trail and unfreezes
// the account on the alerts page. The settings page validates and keeps
// secrets out of the page.
func TestTripwireFreezesWebSession(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := clinic.DefaultSettings()
	s.ChartLimit = 1
	for d := range s.Hours {
		s.Hours[d] = "00:00-24:00"
	}
	if err := e.c.UpdateSettings(ctx, s); err != nil {
		t.Fatal(err)
	}
	other, err := e.c.CreatePatient(hush.WithActor(ctx, e.actor(t, "maria@x.fi")), hush.Patient{Family: "Toinen", BirthDate: "1980-05-05"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	maria := e.browser()
	maria.signIn("maria@x.fi")
	if p := maria.get("/patients/" + e.pid); p.status != 200 {
		t.Fatalf("first chart: %d", p.status)
	}
	p := maria.get("/patients/" + other.ID)
	if p.status != 403 || !strings.Contains(p.body, "frozen after a security alert") || strings.Contains(p.body, "Toinen") {
		t.Fatalf("chart past the limit: %d %s", p.status, p.body)
	}
	if p := maria.get("/patients"); p.url != "/signin" {
		t.Fatalf("the frozen session lives on at %s", p.url)
	}
	if p := maria.post("/signin", url.Values{"email": {"maria@x.fi"}, "password": {e.password("maria@x.fi")}}); p.status != 403 || !strings.Contains(p.body, "frozen") {
		t.Fatalf("frozen sign-in: %d %s", p.status, p.body)
	}

	public := e.useAdminServer()
	admin := e.browser()
	admin.signIn("admin@x.fi")
	p = admin.get("/admin/alerts")
	u, _ := e.c.UserByEmail(ctx, "maria@x.fi")
	if !strings.Contains(p.body, "Too many records opened") || !strings.Contains(p.body, "Maria Lindqvist") ||
		!strings.Contains(p.body, "/admin/audit?actor="+u.ID) || !strings.Contains(p.body, "/admin/alerts/unfreeze/"+u.ID) {
		t.Fatalf("alerts page: %s", p.body)
	}
	if trail := admin.get("/admin/audit?actor=" + u.ID); !strings.Contains(trail.body, "chart.read") || !strings.Contains(trail.body, "denied") {
		t.Fatalf("audit trail: %s", trail.body)
	}
	if p := admin.post("/admin/alerts/unfreeze/"+u.ID, nil); p.url != "/admin/alerts" || !strings.Contains(p.body, "No account is frozen") {
		t.Fatalf("unfreeze: %d %s", p.status, p.body)
	}

	// Settings: a bad value is refused naming the rule; secrets never come back.
	form := url.Values{"chart_limit": {"30"}, "chart_window_min": {"10"}, "directory_limit": {"200"}, "directory_window_min": {"10"}, "calendar_limit": {"1000"},
		"baseline_factor": {"3"}, "rate_limit": {"120"}, "hours1": {"17:00-08:00"},
		"webhook_url": {"https://alerts.example.fi/hook"}, "webhook_secret": {"a-secret-of-at-least-32-characters!!"}}
	if p := admin.post("/admin/settings", form); p.status != 400 || !strings.Contains(p.body, "08:00-17:00") || strings.Contains(p.body, "a-secret-of") {
		t.Fatalf("bad hours: %d %s", p.status, p.body)
	}
	for d := range 7 {
		form.Set(fmt.Sprint("hours", d), "00:00-24:00")
	}
	if p := admin.post("/admin/settings", form); p.url != "/admin/settings" || !strings.Contains(p.body, "Settings saved") || strings.Contains(p.body, "a-secret-of") || !strings.Contains(p.body, "(kept)") {
		t.Fatalf("save: %d %s", p.status, p.body)
	}
	e.srv = public
	maria2 := e.browser()
	maria2.signIn("maria@x.fi")
}

// useAdminServer points the env's browsers at a new admin listener and
// returns the public server, to switch back.
func (e *env) useAdminServer() *httptest.Server {
	e.t.Helper()
	adminApp, err := web.NewAdmin(e.c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		e.t.Fatal(err)
	}
	adminApp.SetClock(func() time.Time { return e.now })
	public := e.srv
	e.srv = httptest.NewTLSServer(adminApp)
	e.t.Cleanup(e.srv.Close)
	return public
}
