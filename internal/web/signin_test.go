package web_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/auth"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/store"
)

// alertsOf returns the kinds of the sign-in alerts the audit log holds
// about account.
func (e *env) alertsOf(account string) map[string]bool {
	e.t.Helper()
	ctx := context.Background()
	admin, err := e.c.SignIn(ctx, "admin@x.fi", []byte(e.password("admin@x.fi")))
	if err != nil {
		e.t.Fatal(err)
	}
	evs, err := e.c.Alerts(hush.WithActor(ctx, admin), 100, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	got := map[string]bool{}
	for _, ev := range evs {
		if ev.Entity == account {
			got[strings.TrimPrefix(ev.Action, "alert.")] = true
		}
	}
	return got
}

func (e *env) id(email string) string {
	u, err := e.c.UserByEmail(context.Background(), email)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.ID
}

// TestSecondFactorCountsAgainstTheAccount: the right password does not
// clear the account's count; the password and second-factor steps of
// fresh sign-ins add up to the limit, and repeated wrong codes raise an
// alert.
func TestSecondFactorCountsAgainstTheAccount(t *testing.T) {
	e := newEnv(t)
	e.browser().signIn("maria@x.fi")
	wrong := func() url.Values {
		return url.Values{"code": {auth.TOTPCode(e.keys["maria@x.fi"], auth.StepAt(e.now)+1000)}}
	}
	steps := []struct {
		fresh  bool // a new browser signs in with the right password
		status int
	}{{true, 200}, {false, 401}, {false, 401}, {true, 200}, {false, 401}, {false, 429}, {true, 429}}
	var b *browser
	for i, st := range steps {
		var p page
		if st.fresh {
			b = e.browser()
			p = b.post("/signin", url.Values{"email": {"maria@x.fi"}, "password": {e.password("maria@x.fi")}})
		} else {
			p = b.post("/signin/mfa", wrong())
		}
		if p.status != st.status {
			t.Fatalf("step %d: %d at %s, want %d", i+1, p.status, p.url, st.status)
		}
	}
	if got := e.alertsOf(e.id("maria@x.fi")); !got[clinic.AlertMFAGuessing] || !got[clinic.AlertLockout] {
		t.Errorf("alerts: %v", got)
	}
	// After the lock a completed sign-in clears the count.
	e.now = e.now.Add(16 * time.Minute)
	e.browser().signIn("maria@x.fi")
	b = e.browser()
	for i := 0; i < 2; i++ {
		b.post("/signin", url.Values{"email": {"maria@x.fi"}, "password": {"wrong password " + string(rune('a'+i))}})
	}
	e.browser().signIn("maria@x.fi")
}

// TestKnownDevice: a browser that completed a sign-in keeps signing in to
// its own account while the account is locked; a cookie for another
// account, or an altered one, does not help.
func TestKnownDevice(t *testing.T) {
	e := newEnv(t)
	holder := e.browser()
	holder.signIn("maria@x.fi")
	desk := e.browser()
	desk.signIn("desk@x.fi")
	u, _ := url.Parse(e.srv.URL)
	var devMaria, devDesk string
	for _, c := range holder.c.Jar.Cookies(u) {
		if c.Name == "__Host-hush-device" {
			devMaria = c.Value
		}
	}
	for _, c := range desk.c.Jar.Cookies(u) {
		if c.Name == "__Host-hush-device" {
			devDesk = c.Value
		}
	}
	if devMaria == "" || devDesk == "" || strings.Contains(devMaria, "maria") {
		t.Fatalf("device cookies %q %q", devMaria, devDesk)
	}
	for i := 0; i < 6; i++ {
		e.browser().post("/signin", url.Values{"email": {"maria@x.fi"}, "password": {"attacker guess"}})
	}
	try := func(name, cookie string) int {
		b := e.browser()
		if cookie != "" {
			b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-hush-device", Value: cookie, Path: "/"}})
		}
		return b.post("/signin", url.Values{"email": {"maria@x.fi"}, "password": {e.password("maria@x.fi")}}).status
	}
	p := strings.Split(devMaria, ".")
	mac, _ := base64.RawURLEncoding.DecodeString(p[4])
	mac[0] ^= 1
	for _, c := range []struct {
		name, cookie string
		want         int
	}{
		{"no cookie", "", 429},
		{"another account's device", devDesk, 429},
		{"altered MAC", strings.Join(append(p[:4:4], base64.RawURLEncoding.EncodeToString(mac)), "."), 429},
		{"altered expiry", strings.Join([]string{p[0], p[1], p[2], "99999999999", p[4]}, "."), 429},
		{"the holder's device", devMaria, 200},
	} {
		if got := try(c.name, c.cookie); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	e.now = e.now.Add(auth.TOTPStep)
	if p := holder.post("/signin", url.Values{"email": {"maria@x.fi"}, "password": {e.password("maria@x.fi")}}); p.url != "/signin/mfa" {
		t.Fatalf("holder: %d at %s", p.status, p.url)
	}
	if p := holder.post("/signin/mfa", url.Values{"code": {auth.TOTPCode(e.keys["maria@x.fi"], auth.StepAt(e.now))}}); p.url != "/patients" {
		t.Fatalf("holder's second step: %d at %s", p.status, p.url)
	}
	if got := e.alertsOf(e.id("maria@x.fi")); !got[clinic.AlertLockout] {
		t.Errorf("alerts: %v", got)
	}
}

// TestEnrolmentCodeStep: the temporary password leads only to the
// enrolment-code page; wrong codes count against the account and the
// enrolment page stays shut without the code.
func TestEnrolmentCodeStep(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	if p := b.post("/signin", url.Values{"email": {"juhani@x.fi"}, "password": {pw}}); p.url != "/signin/code" || !strings.Contains(p.body, "Enrolment code") {
		t.Fatalf("at %s: %s", p.url, p.body)
	}
	for _, path := range []string{"/signin/enroll", "/signin/codes", "/signin/password"} {
		if p := b.get(path); p.url != "/signin" {
			t.Errorf("%s without the code: at %s", path, p.url)
		}
	}
	statuses := []int{}
	for i := 0; i < 5; i++ {
		statuses = append(statuses, b.post("/signin/code", url.Values{"code": {"aaaaa-bbbbb-ccccc-dddd" + string(rune('a'+i))}}).status)
	}
	// The password was the first of the account's 5 attempts.
	if want := []int{401, 401, 401, 401, 429}; !slices.Equal(statuses, want) {
		t.Errorf("wrong codes: %v, want %v", statuses, want)
	}
	if ok, _ := e.c.HasTOTP(context.Background(), e.id("juhani@x.fi")); ok {
		t.Fatal("enrolled")
	}
	// Once the lock passes, the right code opens the enrolment.
	e.now = e.now.Add(16 * time.Minute)
	e.browser().signIn("juhani@x.fi")
}

// TestKeyRemovalAsksSecondFactor: a signed-in session alone cannot remove
// a security key; the second factor must be given again.
func TestKeyRemovalAsksSecondFactor(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	codes := b.signIn("maria@x.fi")
	ctx := context.Background()
	a, err := e.c.SignIn(ctx, "maria@x.fi", []byte(e.password("maria@x.fi")))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.AddSecurityKey(hush.WithActor(ctx, a), clinic.SecurityKey{ID: []byte("key-1"), Name: "Desk key", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	id := base64.RawURLEncoding.EncodeToString([]byte("key-1"))
	count := func() int {
		keys, _ := e.c.SecurityKeys(ctx, a.UserID)
		return len(keys)
	}
	for _, code := range []string{"", "000000"} {
		if p := b.post("/account/keys/"+id+"/remove", url.Values{"code": {code}}); p.status != 401 || count() != 1 {
			t.Errorf("removal with %q: %d, %d keys", code, p.status, count())
		}
	}
	if p := b.post("/account/keys/"+id+"/remove", url.Values{"code": {codes[0]}}); p.url != "/account/keys" || count() != 0 {
		t.Errorf("removal with a recovery code: %d at %s, %d keys", p.status, p.url, count())
	}
}

// TestResetEndsSessions: a second-factor reset made outside this server
// (hush user reset-mfa) ends the account's open sessions at their next
// request.
func TestResetEndsSessions(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("desk@x.fi")
	// As another process's reset does: the rows go, no hook runs here.
	id := e.id("desk@x.fi")
	if err := e.c.DB().ReadWrite(context.Background(), func(tx *store.Tx) error { return tx.ResetMFA(id) }); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/patients?q=virt"); p.url != "/signin" || strings.Contains(p.body, "Virtanen") {
		t.Fatalf("after the reset: %s", p.url)
	}
}
