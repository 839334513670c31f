package cli_test

import (
	"context"
	"database/sql"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/hushepr/hush/internal/alert/alerttest"
	"github.com/hushepr/hush/internal/auth"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
)

// Sign-in under attack (issue 10, section 3), against the real server
// over real HTTPS: a browser is a cookie jar on its own loopback address
// (127.0.0.x), so that the per-address throttle is not what stops the
// attacks below.

const signinNewPassword = "a password only the holder knows"

// webBrowser is one browser: its own cookie jar and source address.
type webBrowser struct {
	t   *testing.T
	f   *fixture
	c   *http.Client
	jar *cookiejar.Jar

	mu         sync.Mutex
	setCookies []string // every Set-Cookie the server sent
}

type recorder struct {
	b    *webBrowser
	next http.RoundTripper
}

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		r.b.mu.Lock()
		r.b.setCookies = append(r.b.setCookies, resp.Header.Values("Set-Cookie")...)
		r.b.mu.Unlock()
	}
	return resp, err
}

// browser returns a browser connecting from the loopback address ip.
func (f *fixture) browser(t *testing.T, ip string) *webBrowser {
	t.Helper()
	tr := f.client.Transport.(*http.Transport).Clone()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	tr.DialContext = d.DialContext
	jar, _ := cookiejar.New(nil)
	b := &webBrowser{t: t, f: f, jar: jar}
	b.c = &http.Client{Timeout: 30 * time.Second, Jar: jar, Transport: recorder{b: b, next: tr}}
	return b
}

type webPage struct {
	status int
	path   string // where the browser ended up after redirects
	body   string
}

func (b *webBrowser) post(path string, form url.Values) webPage {
	b.t.Helper()
	resp, err := b.c.PostForm(b.f.url+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.read(resp)
}

func (b *webBrowser) get(path string) webPage {
	b.t.Helper()
	resp, err := b.c.Get(b.f.url + path)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.read(resp)
}

func (b *webBrowser) read(resp *http.Response) webPage {
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return webPage{status: resp.StatusCode, path: resp.Request.URL.Path, body: string(body)}
}

func (b *webBrowser) signIn(email, password string) webPage {
	b.t.Helper()
	return b.post("/signin", url.Values{"email": {email}, "password": {password}})
}

var (
	totpKeyRE  = regexp.MustCompile(`data-testid="totp-key">([A-Z2-7]+)<`)
	recoveryRE = regexp.MustCompile(`<code>([a-z2-7]{5}-[a-z2-7]{5})</code>`)
)

// firstSignIn does an account's first web sign-in: the temporary password,
// the enrolment code, an authenticator enrolled, a new password. It
// returns the TOTP secret and the recovery codes.
func (b *webBrowser) firstSignIn(email, password, code string) ([]byte, []string) {
	b.t.Helper()
	if p := b.signIn(email, password); p.path != "/signin/code" {
		b.t.Fatalf("first sign-in at %s (%d)", p.path, p.status)
	}
	p := b.post("/signin/code", url.Values{"code": {code}})
	m := totpKeyRE.FindStringSubmatch(p.body)
	if p.path != "/signin/enroll" || m == nil {
		b.t.Fatalf("after the enrolment code at %s (%d)", p.path, p.status)
	}
	secret, err := auth.TOTPSecretFromText(m[1])
	if err != nil {
		b.t.Fatal(err)
	}
	p = b.post("/signin/enroll", url.Values{"code": {auth.TOTPCode(secret, auth.StepAt(time.Now()))}})
	if p.path != "/signin/codes" {
		b.t.Fatalf("after enrolment at %s (%d)", p.path, p.status)
	}
	var codes []string
	for _, m := range recoveryRE.FindAllStringSubmatch(p.body, -1) {
		codes = append(codes, m[1])
	}
	if p = b.post("/signin/codes", nil); p.path != "/signin/password" {
		b.t.Fatalf("after the recovery codes at %s", p.path)
	}
	if p = b.post("/signin/password", url.Values{"password": {signinNewPassword}, "again": {signinNewPassword}}); p.path != "/patients" || p.status != 200 {
		b.t.Fatalf("after the new password at %s (%d)", p.path, p.status)
	}
	return secret, codes
}

// wrongTOTP is a code that is not the current one (nor a neighbour).
func wrongTOTP(secret []byte) string {
	return auth.TOTPCode(secret, auth.StepAt(time.Now())+1000)
}

// newSigninFixture serves a clinic with a clinician whose alerts go to a
// real webhook receiver and a real SMTP relay (which also carries the
// holders' notices).
func newSigninFixture(t *testing.T) (*fixture, *webhookReceiver, *alerttest.SMTPServer) {
	f := newFixture(t, "doc@test.hush=clinician")
	hook := &webhookReceiver{secret: []byte("a webhook secret of at least 32 bytes!")}
	relay := alerttest.StartSMTP(t, nil)
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	cl := f.open()
	s := clinic.DefaultSettings()
	s.WebhookURL, s.WebhookSecret = hookSrv.URL+"/hush-alerts", string(hook.secret)
	s.SMTPAddr, s.SMTPFrom, s.SMTPTo = relay.Addr(), "hush@clinic.test", []string{"security@clinic.test"}
	if err := cl.UpdateSettings(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	f.serve()
	return f, hook, relay
}

// noPersonalData: an alert or a notice names the account by id only.
func noPersonalData(t *testing.T, what, text string, words ...string) {
	t.Helper()
	text = strings.Replace(text, "This message carries no patient data.", "", 1)
	for _, w := range append([]string{"doc@test.hush", "Name of", "patient", "Virtanen"}, words...) {
		if strings.Contains(strings.ToLower(text), strings.ToLower(w)) {
			t.Errorf("%s carries %q: %s", what, w, text)
		}
	}
}

// TestInsiderTOTPGuessing: someone who knows a clinician's password
// guesses the second factor across fresh sign-ins, from several
// addresses. Every step counts against the account, so the account limit
// (5) is reached after 5 steps in all, not 4 codes per sign-in: the next
// code and the next sign-in, even with the right password, answer 429,
// and a critical alert reaches the webhook and the mail relay.
func TestInsiderTOTPGuessing(t *testing.T) {
	f, hook, relay := newSigninFixture(t)
	doc := f.ids["doc@test.hush"]
	secret, _ := f.browser(t, "127.0.0.1").firstSignIn("doc@test.hush", testPassword, f.enrol["doc@test.hush"])

	a1 := f.browser(t, "127.0.0.2")
	if p := a1.signIn("doc@test.hush", signinNewPassword); p.path != "/signin/mfa" { // step 1
		t.Fatalf("the attacker's password at %s (%d)", p.path, p.status)
	}
	for i := 0; i < 2; i++ { // steps 2, 3
		if p := a1.post("/signin/mfa", url.Values{"code": {wrongTOTP(secret)}}); p.status != 401 {
			t.Fatalf("wrong code %d: %d", i, p.status)
		}
	}
	// A fresh sign-in (today's code reset the count here) from elsewhere.
	a2 := f.browser(t, "127.0.0.3")
	if p := a2.signIn("doc@test.hush", signinNewPassword); p.path != "/signin/mfa" { // step 4
		t.Fatalf("second sign-in at %s (%d)", p.path, p.status)
	}
	if p := a2.post("/signin/mfa", url.Values{"code": {wrongTOTP(secret)}}); p.status != 401 { // step 5
		t.Fatalf("wrong code: %d", p.status)
	}
	if p := a2.post("/signin/mfa", url.Values{"code": {wrongTOTP(secret)}}); p.status != 429 || !strings.Contains(p.body, "Too many attempts") {
		t.Fatalf("the sixth step: %d", p.status)
	}
	// Locked: a third fresh sign-in with the right password gets nowhere,
	// and neither would the right code.
	a3 := f.browser(t, "127.0.0.4")
	if p := a3.signIn("doc@test.hush", signinNewPassword); p.status != 429 {
		t.Fatalf("sign-in under lock: %d at %s", p.status, p.path)
	}
	a := hook.waitFor(t, clinic.AlertMFAGuessing, doc)
	if a["severity"] != "critical" || a["count"].(float64) < 3 {
		t.Errorf("alert: %v", a)
	}
	m := waitMail(t, relay, clinic.AlertMFAGuessing, doc)
	noPersonalData(t, "the alert mail", m.Data, signinNewPassword)
}

// TestInsiderLockoutLever: an attacker fails the password from three
// addresses until the account is locked. The lock holds for every browser
// without the holder's known-device cookie (the attacker's, a new one on
// the holder's own address, one with a forged cookie), but the holder's
// own browser still signs in. The lock and its spread over addresses
// raise alerts.
func TestInsiderLockoutLever(t *testing.T) {
	f, hook, relay := newSigninFixture(t)
	doc := f.ids["doc@test.hush"]
	holder := f.browser(t, "127.0.0.1")
	_, recovery := holder.firstSignIn("doc@test.hush", testPassword, f.enrol["doc@test.hush"])
	// The known-device cookie: __Host-, HttpOnly, Secure, SameSite=Strict.
	var dev string
	for _, c := range holder.setCookies {
		if strings.HasPrefix(c, "__Host-hush-device=") {
			dev = c
		}
	}
	for _, attr := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age="} {
		if !strings.Contains(dev, attr) {
			t.Errorf("device cookie %q lacks %s", dev, attr)
		}
	}
	if strings.Contains(dev, "Domain=") {
		t.Errorf("device cookie has a domain: %q", dev)
	}

	attempt := func(ip, password string) int {
		return f.browser(t, ip).signIn("doc@test.hush", password).status
	}
	for i, ip := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"} {
		if st := attempt(ip, "wrong guess number "+string(rune('a'+i))); st != 401 {
			t.Fatalf("guess %d: %d", i, st)
		}
	}
	for _, ip := range []string{"127.0.0.3", "127.0.0.4"} {
		if st := attempt(ip, "another wrong guess"); st != 429 {
			t.Fatalf("guess under lock from %s: %d", ip, st)
		}
	}
	// Locked for everyone else, right password or not, even on the
	// holder's own address.
	if st := attempt("127.0.0.1", signinNewPassword); st != 429 {
		t.Fatalf("a new browser with the right password: %d", st)
	}
	forged := f.browser(t, "127.0.0.5")
	u, _ := url.Parse(f.url)
	forged.jar.SetCookies(u, []*http.Cookie{{Name: "__Host-hush-device", Value: "d1.AAAAAAAAAAAAAAAAAAAAAA." + doc + ".9999999999.AAAA", Path: "/", Secure: true}})
	if p := forged.signIn("doc@test.hush", signinNewPassword); p.status != 429 {
		t.Fatalf("a forged device cookie: %d at %s", p.status, p.path)
	}
	// The holder's browser signs in (a recovery code: the TOTP step of the
	// enrolment is spent).
	if p := holder.signIn("doc@test.hush", signinNewPassword); p.path != "/signin/mfa" {
		t.Fatalf("the holder under lock: %d at %s", p.status, p.path)
	}
	if p := holder.post("/signin/mfa", url.Values{"code": {recovery[0]}}); p.path != "/patients" || p.status != 200 {
		t.Fatalf("the holder's second step: %d at %s", p.status, p.path)
	}
	// The device's own counter still holds: five wrong passwords from the
	// holder's browser lock that browser too.
	for i := 0; i < 5; i++ {
		holder.signIn("doc@test.hush", "holder typo")
	}
	if p := holder.signIn("doc@test.hush", signinNewPassword); p.status != 429 {
		t.Fatalf("the device's own limit: %d", p.status)
	}
	a := hook.waitFor(t, clinic.AlertLockout, doc)
	if a["severity"] != "warning" {
		t.Errorf("lockout alert: %v", a)
	}
	a = hook.waitFor(t, clinic.AlertLockoutSpread, doc)
	if a["severity"] != "critical" || a["count"].(float64) < 3 {
		t.Errorf("spread alert: %v", a)
	}
	noPersonalData(t, "the alert mail", waitMail(t, relay, clinic.AlertLockoutSpread, doc).Data, "127.0.0")
}

// waitHolderMail waits for a notice of kind to the holder's address.
func waitHolderMail(t *testing.T, relay *alerttest.SMTPServer, to, kind string) alerttest.Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range relay.Messages() {
			if slices.Contains(m.To, to) && strings.Contains(m.Data, "Subject: [Hush] Your account: "+kind+"\r\n") {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s notice reached %s", kind, to)
	return alerttest.Message{}
}

var mailCodeRE = regexp.MustCompile(`Code: +([a-z2-7-]{23})\r\n`)

// TestInsiderEnrolmentHijack: whoever chose a new account's password
// (an admin) signs in with it first, to enrol their own authenticator and
// own the account's new key pair. Without the enrolment code, which went
// to the holder's address, the temporary password reaches no enrolment.
// The code works once and expires after 72 hours; the holder is e-mailed
// (ids and times only) when the password, second factor or security keys
// change and when the account is frozen.
func TestInsiderEnrolmentHijack(t *testing.T) {
	f, _, relay := newSigninFixture(t)
	const email = "new@test.hush"
	out := f.run("user", "add", "--email", email, "--name", "Nea Newcomer", "--role", "clinician", "--password-file", f.pwFile)
	first, rest, _ := strings.Cut(out, "\n")
	id := strings.TrimSpace(first)
	if !strings.Contains(rest, "e-mailed") || enrolmentCodeRE.MatchString(out) {
		t.Fatalf("user add with a relay should e-mail the code, not print it: %q", out)
	}
	// The insider who chose the password tries the first sign-in.
	att := f.browser(t, "127.0.0.2")
	if p := att.signIn(email, testPassword); p.path != "/signin/code" {
		t.Fatalf("the temporary password led to %s (%d)", p.path, p.status)
	}
	// (Two guesses: every step counts against the account, and the
	// holder's own first sign-in must stay under its limit of 5.)
	for _, guess := range []string{"aaaaa-bbbbb-ccccc-ddddd", f.enrol["doc@test.hush"]} {
		if p := att.post("/signin/code", url.Values{"code": {guess}}); p.status != 401 || p.path != "/signin/code" {
			t.Fatalf("a guessed enrolment code: %d at %s", p.status, p.path)
		}
	}
	if p := att.get("/signin/enroll"); p.path != "/signin" {
		t.Fatalf("the enrolment page without the code: %s", p.path)
	}
	secret := auth.NewTOTPSecret()
	if p := att.post("/signin/enroll", url.Values{"code": {auth.TOTPCode(secret, auth.StepAt(time.Now()))}}); p.path != "/signin" {
		t.Fatalf("an enrolment without the code: %s", p.path)
	}
	if p := att.post("/signin/password", url.Values{"password": {"the insider's own pw"}, "again": {"the insider's own pw"}}); p.path != "/signin" {
		t.Fatalf("a password change without the code: %s", p.path)
	}
	db := openDB(t, f)
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM user_mfa WHERE user_id = ?`, id).Scan(&n); err != nil || n != 0 {
		t.Fatalf("enrolled without the code: %d %v", n, err)
	}
	db.Close()

	// The holder has the code from their own mailbox.
	m := waitHolderMail(t, relay, email, "enrolment.code")
	mc := mailCodeRE.FindStringSubmatch(m.Data)
	if mc == nil {
		t.Fatalf("no code in the mail: %s", m.Data)
	}
	holder := f.browser(t, "127.0.0.1")
	holder.firstSignIn(email, testPassword, mc[1])
	for _, kind := range []string{"mfa.enroll", "password.change"} {
		waitHolderMail(t, relay, email, kind)
	}

	// A database writer deletes the holder's second factor to force a
	// re-enrolment: the account's state MAC no longer matches, so the
	// account stops working (and the clinic is alerted) instead of asking
	// for an enrolment code; the spent code is refused all the same.
	f.shutdown()
	db = openDB(t, f)
	for _, q := range []string{`DELETE FROM recovery_codes WHERE user_id = ?`, `DELETE FROM user_mfa WHERE user_id = ?`} {
		if _, err := db.Exec(q, id); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	f.serve()
	att = f.browser(t, "127.0.0.3")
	if p := att.signIn(email, signinNewPassword); p.path == "/signin/code" || p.status < 500 {
		t.Fatalf("after the row was deleted: %s (%d), want the account refused", p.path, p.status)
	}
	f.shutdown()
	// The operator's repair: a second-factor reset (allowed because only
	// the factors changed). Single use: the spent code still enrols no one.
	enrolmentCode(t, f.run("user", "reset-mfa", "--email", email, "--show-code"))
	f.serve()
	att = f.browser(t, "127.0.0.4")
	if p := att.signIn(email, signinNewPassword); p.path != "/signin/code" {
		t.Fatalf("after the reset: %s (%d)", p.path, p.status)
	}
	if p := att.post("/signin/code", url.Values{"code": {mc[1]}}); p.status != 401 {
		t.Fatalf("a spent enrolment code: %d at %s", p.status, p.path)
	}
	f.shutdown()

	// 72 hours: a new code (shown to the operator) works until then.
	code := enrolmentCode(t, f.run("user", "enrol-code", "--email", email, "--show-code"))
	cl := f.open()
	now := time.Now()
	ctx := context.Background()
	cl.SetClock(func() time.Time { return now.Add(71 * time.Hour) })
	if err := cl.CheckEnrolmentCode(ctx, id, code); err != nil {
		t.Errorf("at 71 hours: %v", err)
	}
	cl.SetClock(func() time.Time { return now.Add(72 * time.Hour) })
	if err := cl.CheckEnrolmentCode(ctx, id, code); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("at 72 hours: %v", err)
	}
	if _, err := cl.EnrollTOTP(ctx, id, secret, auth.TOTPCode(secret, auth.StepAt(now.Add(72*time.Hour))), code); hush.ErrorCode(err) != hush.EUNAUTHORIZED {
		t.Errorf("enrolment at 72 hours: %v", err)
	}
	cl.SetClock(time.Now)
	// The holder adds and removes a security key (as the web app does).
	a, err := cl.SignIn(ctx, email, []byte(signinNewPassword))
	if err != nil {
		t.Fatal(err)
	}
	actx := hush.WithActor(ctx, a)
	if err := cl.AddSecurityKey(actx, clinic.SecurityKey{ID: []byte("key-1"), Name: "Yubikey", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := cl.RemoveSecurityKey(actx, []byte("key-1")); err != nil {
		t.Fatal(err)
	}
	canaries, err := cl.AddCanaries(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	cl.Close()
	// The holder's token opens a canary: the account is frozen.
	pwFile := filepath.Join(f.root, "newpw")
	os.WriteFile(pwFile, []byte(signinNewPassword), 0o600)
	f.tokens[email] = strings.TrimSpace(f.run("token", "create", "--email", email, "--password-file", pwFile))
	f.serve()
	if r := f.do(email, "GET", "/fhir/R4/Patient/"+canaries[0], nil); r.status != 403 {
		t.Fatalf("canary: %d", r.status)
	}
	for _, kind := range []string{"securitykey.add", "securitykey.remove", "account.freeze", "enrolment.code", "mfa.enroll", "password.change"} {
		m := waitHolderMail(t, relay, email, kind)
		if !strings.Contains(m.Data, id) {
			t.Errorf("%s notice does not name the account id", kind)
		}
		noPersonalData(t, kind+" notice", m.Data, "Nea", "Newcomer", canaries[0], signinNewPassword, testPassword, "note", "diagnos")
	}
}

// openDB opens the clinic's database file as a database writer would:
// with database/sql, without the KEK.
func openDB(t *testing.T, f *fixture) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(f.data, "hush.db"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}
