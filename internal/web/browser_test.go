package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/web"
)

// browserTools finds Node.js, the e2e folder's npm packages and Chromium.
// Without them the browser test is skipped, unless HUSH_REQUIRE_BROWSER=1
// (CI and the README's test script set it), where it fails instead.
func browserTools(t *testing.T) (node, dir, chromium string) {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("HUSH_REQUIRE_BROWSER") == "1" {
			t.Fatalf("browser tests need %s (run ./test.sh, which installs it)", what)
		}
		t.Skipf("browser tests skipped: no %s (./test.sh installs it)", what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node")
	}
	dir, _ = filepath.Abs("../../e2e")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		missing("e2e/node_modules (npm ci in e2e)")
	}
	chromium = os.Getenv("HUSH_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing("Chromium at " + chromium)
	}
	return node, dir, chromium
}

// TestBrowser drives the web app in headless Chromium through Playwright
// (e2e/browser.mjs): real TLS, real cookies, real pages; axe-core on every
// main page. HUSH_SCREENSHOTS=docs/screenshots saves the screenshots.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	node, dir, chromium := browserTools(t)
	e := newEnv(t)
	// Real time: the browser's authenticator computes TOTP codes from the clock.
	e.app.SetClock(time.Now)
	e.c.SetClock(time.Now)

	ctx := context.Background()
	a, err := e.c.SignIn(ctx, "maria@x.fi", []byte(pw))
	if err != nil {
		t.Fatal(err)
	}
	const marker = "Marker-7Q: only the care team may read this"
	n, err := e.c.CreateNote(hush.WithActor(ctx, a), e.pid, clinic.NoteInput{Kind: hush.KindFree, Status: hush.StatusSigned, Title: "Private", Text: marker})
	if err != nil {
		t.Fatal(err)
	}
	// Security keys need a host name: the WebAuthn scenario uses localhost.
	u, _ := url.Parse(e.srv.URL)
	keysURL := "https://localhost:" + u.Port()
	if err := e.app.EnableWebAuthn(keysURL); err != nil {
		t.Fatal(err)
	}
	// A locum's stolen token swept charts this morning: the admin pages
	// have a frozen account and its alert to show.
	sweep(t, e)
	admin, err := web.NewAdmin(e.c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	adminSrv := httptest.NewTLSServer(admin)
	t.Cleanup(adminSrv.Close)

	type account struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Enrol    string `json:"enrol"` // the one-time enrolment code of the first sign-in
	}
	cfg := map[string]any{
		"url": e.srv.URL, "adminURL": adminSrv.URL, "keysURL": keysURL, "chromium": chromium,
		"clinician":  account{"maria@x.fi", pw, e.enrol["maria@x.fi"]},
		"reception":  account{"desk@x.fi", pw, e.enrol["desk@x.fi"]},
		"admin":      account{"admin@x.fi", pw, e.enrol["admin@x.fi"]},
		"webauthn":   account{"juhani@x.fi", pw, e.enrol["juhani@x.fi"]},
		"patient":    e.pid,
		"note":       n.ID,
		"noteMarker": marker,
	}
	tmp := t.TempDir()
	cfgFile, outFile := filepath.Join(tmp, "config.json"), filepath.Join(tmp, "out.json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "browser.mjs", cfgFile, outFile)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HUSH_SCREENSHOTS="+screenshots(t))
	out, err := cmd.CombinedOutput()
	t.Logf("browser:\n%s", out)
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("browser scenarios failed (exit %d)", ee.ExitCode())
		}
		t.Fatal(err)
	}
	var res struct {
		Results []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"results"`
		Checked []string `json:"checked"`
	}
	raw, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Results) < 3 || len(res.Checked) < 12 {
		t.Fatalf("too few scenarios or pages checked: %+v", res)
	}
}

// screenshots is where the browser saves screenshots: HUSH_SCREENSHOTS
// (relative to the repository root) or a temporary folder.
func screenshots(t *testing.T) string {
	d := os.Getenv("HUSH_SCREENSHOTS")
	if d == "" {
		return t.TempDir()
	}
	if !filepath.IsAbs(d) {
		d, _ = filepath.Abs(filepath.Join("../..", d))
	}
	return d
}

// sweep makes a clinician account sweep charts until the tripwires
// freeze it.
func sweep(t *testing.T, e *env) {
	ctx := context.Background()
	if _, err := e.c.AddUser(ctx, clinic.NewUser{Email: "locum@x.fi", Name: "Lauri Locum", Role: hush.RoleClinician, Password: []byte(pw)}); err != nil {
		t.Fatal(err)
	}
	a, err := e.c.SignIn(ctx, "locum@x.fi", []byte(pw))
	if err != nil {
		t.Fatal(err)
	}
	a.Credential = "token:stolen"
	actx := hush.WithRequest(hush.WithActor(ctx, a), hush.Request{ID: "sweep", ClientAddr: "203.0.113.9"})
	for i := range 31 {
		p, err := e.c.CreatePatient(hush.WithActor(ctx, a), hush.Patient{Family: "Sweep", Given: []string{fmt.Sprint(i)}, BirthDate: "1970-01-01"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.Chart(actx, p.ID); err != nil {
			if clinic.ErrFrozen(err) {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatal("the sweep was not stopped")
}
