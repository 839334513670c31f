package cli_test

// Red team, role "round3": false alarms of the database-writer defences
// (state digest, record heads, user factors, ended tokens) on an
// untampered clinic used as a clinic would be, and what a writer without
// the KEK may still do. Each test asserts the defended (or, for false
// alarms, the undisturbed) outcome, so it FAILS while the problem exists.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/audit/witness/witnesstest"
	"github.com/hushepr/hush/internal/auth"
	"github.com/hushepr/hush/internal/cli"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/measures"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// integrityEvents returns the alert.integrity.* events in the audit log
// (raised by any process, the server's sweep included).
func integrityEvents(t *testing.T, f *fixture) []string {
	t.Helper()
	cl := f.open()
	defer cl.Close()
	evs, err := cl.Audit().Search(context.Background(), store.AuditQuery{ActionPrefix: "alert.integrity", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Action+" "+ev.Entity+" "+ev.PatientID)
	}
	return out
}

// checkStateLike runs what the server's sweep runs (CheckState) in a
// separate clinic instance and reports whether it found the state bad
// (its writes then fail with the integrity error).
func sweepLike(t *testing.T, f *fixture) error {
	t.Helper()
	cl := f.open()
	defer cl.Close()
	ctx := context.Background()
	cl.SweepSessions(ctx)
	cl.CheckState(ctx)
	actx := signedIn(t, cl, "admin@test.hush")
	s, err := cl.Settings(actx)
	if err != nil {
		return err
	}
	return cl.UpdateSettings(actx, s)
}

// TestRedRound3ClinicalFlowsNoFalseAlarm: notes created, updated, signed
// and amended, measures, diagnoses, process notes and appointments, from
// the server (HTTP) and from a second process at the same time, with a
// sweep-like state check and restarts between: never an integrity alert,
// never a refused write or start.
func TestRedRound3ClinicalFlowsNoFalseAlarm(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician", "doc2@test.hush=clinician", "desk@test.hush=reception")
	hook := alertsToWebhook(t, f)
	f.serve()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Flow", "Fanni", makeHETU(3, 4, 1980, 412), "+358401230001", f.ids["doc@test.hush"])))
	pid := p["id"].(string)
	f.must(200, f.do("doc@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, careTeamJSON(pid, f.ids["doc@test.hush"], f.ids["doc2@test.hush"])))

	cl := f.open()
	doc := signedIn(t, cl, "doc@test.hush")
	desk := signedIn(t, cl, "desk@test.hush")
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	wg.Add(2)
	go func() { // the server
		defer wg.Done()
		for i := 0; i < 15; i++ {
			r, err := f.tryDo("doc2@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", fmt.Sprintf("server note %d", i)))
			if err != nil || r.status != 201 {
				errs <- fmt.Sprintf("server note %d: %v %d %s", i, err, r.status, r.body)
			}
		}
	}()
	go func() { // a second process
		defer wg.Done()
		for i := 0; i < 5; i++ {
			n, err := cl.CreateNote(doc, pid, clinic.NoteInput{Kind: hush.KindSOAP, Status: hush.StatusDraft, Text: fmt.Sprintf("draft %d", i)})
			if err != nil {
				errs <- fmt.Sprintf("create: %v", err)
				continue
			}
			if n, err = cl.UpdateNote(doc, n.ID, n.Version, clinic.NoteInput{Kind: hush.KindSOAP, Status: hush.StatusSigned, Text: fmt.Sprintf("signed %d", i)}); err != nil {
				errs <- fmt.Sprintf("sign: %v", err)
				continue
			}
			if _, err = cl.UpdateNote(doc, n.ID, n.Version, clinic.NoteInput{Kind: hush.KindSOAP, Status: hush.StatusAmended, Text: fmt.Sprintf("amended %d", i)}); err != nil {
				errs <- fmt.Sprintf("amend: %v", err)
			}
			if _, err := cl.AddMeasure(doc, pid, measures.PHQ9, []int{1, 1, 1, 1, 1, 1, 1, 1, 1}); err != nil {
				errs <- fmt.Sprintf("measure: %v", err)
			}
			if _, err := cl.AddDiagnosis(doc, pid, "F32.1", "depression", false); err != nil {
				errs <- fmt.Sprintf("diagnosis: %v", err)
			}
			if _, err := cl.AddProcessNote(doc, pid, "process "+fmt.Sprint(i)); err != nil {
				errs <- fmt.Sprintf("process note: %v", err)
			}
			if _, err := cl.BookAppointment(desk, pid, f.ids["doc@test.hush"], time.Now().Add(time.Duration(24+i*2)*time.Hour).Truncate(time.Hour), 45*time.Minute); err != nil {
				errs <- fmt.Sprintf("appointment: %v", err)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("untampered write refused: %s", e)
	}
	cl.Close()
	if err := sweepLike(t, f); err != nil {
		t.Errorf("after clinical writes from two processes, a write after the state check fails: %v", err)
	}
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "after")))
	f.must(200, f.do("doc2@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+pid, nil))
	f.shutdown()
	if err := f.serveOrRefuse(); err != nil {
		t.Fatalf("the untampered clinic refused to start: %v", err)
	}
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "after restart")))
	if hook.anyIntegrity(500 * time.Millisecond) {
		t.Errorf("integrity alert on an untampered clinic")
	}
	f.shutdown()
	if ev := integrityEvents(t, f); len(ev) > 0 {
		t.Errorf("integrity alerts on an untampered clinic: %v", ev)
	}
}

// TestRedRound3BackupRestoreNoFalseAlarm: a backup taken while the server
// runs verifies, and restoring it as docs/operations.md says (a new data
// directory, the backup as hush.db, the same KEK) starts without an
// integrity alert.
func TestRedRound3BackupRestoreNoFalseAlarm(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	f.serve()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Backup", "Bea", makeHETU(3, 5, 1981, 413), "+358401230002")))
	pid := p["id"].(string)
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "before backup")))
	out := filepath.Join(f.root, "backup.db")
	if _, err := f.try("backup", "--data", f.data, "--kek-file", f.kek, "--out", out); err != nil {
		t.Fatalf("backup while serving: %v", err)
	}
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "after backup")))
	f.shutdown()
	if _, err := f.try("backup", "verify", "--kek-file", f.kek, "--out", out); err != nil {
		t.Errorf("backup verify: %v", err)
	}
	// Restore.
	newData := filepath.Join(f.root, "restored")
	if err := os.Mkdir(newData, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(newData, store.FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	f.data = newData
	if err := f.serveOrRefuse(); err != nil {
		t.Fatalf("the restored backup refuses to start: %v", err)
	}
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "after restore")))
	f.shutdown()
	if ev := integrityEvents(t, f); len(ev) > 0 {
		t.Errorf("integrity alerts after a restore: %v", ev)
	}
}

var _ = strings.TrimSpace

// TestRedRound3SecondFactorsNoFalseAlarm: a holder's web sign-ins with
// recovery codes and TOTP (each stamps the account) while, in a second
// process, the same holder adds, uses and removes security keys and
// creates a token: never an integrity alert, never a refused write, and
// the clinic starts again.
func TestRedRound3SecondFactorsNoFalseAlarm(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	f.serve()
	doc := f.ids["doc@test.hush"]
	b := f.browser(t, "127.0.0.1")
	secret, codes := b.firstSignIn("doc@test.hush", testPassword, f.enrol["doc@test.hush"])
	if len(codes) < 4 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	newPW := filepath.Join(f.root, "pw2")
	os.WriteFile(newPW, []byte(signinNewPassword+"\n"), 0o600)

	cl := f.open()
	a, err := cl.SignIn(context.Background(), "doc@test.hush", []byte(signinNewPassword))
	if err != nil {
		t.Fatal(err)
	}
	dctx := hush.WithActor(context.Background(), a)
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 0; i < 3; i++ {
			bb := f.browser(t, fmt.Sprintf("127.0.0.%d", 10+i))
			if p := bb.signIn("doc@test.hush", signinNewPassword); p.path != "/signin/mfa" {
				errs <- fmt.Sprintf("sign-in %d at %s (%d)", i, p.path, p.status)
				continue
			}
			if p := bb.post("/signin/mfa", url.Values{"code": {codes[i]}}); p.path != "/patients" {
				errs <- fmt.Sprintf("recovery code %d at %s (%d)", i, p.path, p.status)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 3; i++ {
			k := clinic.SecurityKey{ID: []byte(fmt.Sprintf("key-%d", i)), Name: fmt.Sprintf("key %d", i), Data: []byte(`{"counter":1}`)}
			if err := cl.AddSecurityKey(dctx, k); err != nil {
				errs <- fmt.Sprintf("add key %d: %v", i, err)
				continue
			}
			k.Data = []byte(`{"counter":2}`)
			if err := cl.SecurityKeyUsed(context.Background(), doc, &k, nil); err != nil {
				errs <- fmt.Sprintf("use key %d: %v", i, err)
			}
			if i%2 == 0 {
				if err := cl.RemoveSecurityKey(dctx, k.ID); err != nil {
					errs <- fmt.Sprintf("remove key %d: %v", i, err)
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 2; i++ {
			if _, err := f.try("token", "create", "--email", "doc@test.hush", "--password-file", newPW); err != nil {
				errs <- fmt.Sprintf("token create: %v", err)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("untampered step refused: %s", e)
	}
	cl.Close()
	// A TOTP sign-in (the next step, within the skew the server allows).
	bt := f.browser(t, "127.0.0.20")
	bt.signIn("doc@test.hush", signinNewPassword)
	if p := bt.post("/signin/mfa", url.Values{"code": {auth.TOTPCode(secret, auth.StepAt(time.Now())+1)}}); p.path != "/patients" {
		t.Logf("TOTP next step at %s (%d)", p.path, p.status)
	}
	if err := sweepLike(t, f); err != nil {
		t.Errorf("after second-factor use from two processes, a write after the state check fails: %v", err)
	}
	// (Each completed sign-in ends the account's other web sessions, by
	// design: b's session is not expected to survive.)
	if p := bt.get("/patients"); p.path != "/patients" || p.status != 200 {
		t.Logf("the TOTP session: %s (%d)", p.path, p.status)
	}
	f.shutdown()
	if err := f.serveOrRefuse(); err != nil {
		t.Fatalf("the untampered clinic refused to start: %v", err)
	}
	b2 := f.browser(t, "127.0.0.30")
	b2.signIn("doc@test.hush", signinNewPassword)
	if p := b2.post("/signin/mfa", url.Values{"code": {codes[3]}}); p.path != "/patients" {
		t.Errorf("recovery code after restart at %s (%d)", p.path, p.status)
	}
	if hook.anyIntegrity(500 * time.Millisecond) {
		t.Errorf("integrity alert on an untampered clinic")
	}
	f.shutdown()
	if ev := integrityEvents(t, f); len(ev) > 0 {
		t.Errorf("integrity alerts on an untampered clinic: %v", ev)
	}
}

// TestRedRound3Kill9MixedWritesNoFalseAlarm: the server is killed with
// SIGKILL while it writes notes and care-team changes (sealed writes) and
// a second process creates and revokes tokens; after the restart the
// clinic opens with no integrity alert and takes writes.
func TestRedRound3Kill9MixedWritesNoFalseAlarm(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test")
	}
	f := newFixture(t, "doc@test.hush=clinician", "doc2@test.hush=clinician")
	f.client = f.httpClient()
	cmd := f.startProcess()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Kill", "Kalle", makeHETU(9, 9, 1988, 919), "+358409190919", f.ids["doc@test.hush"])))
	pid := p["id"].(string)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var r response
				var err error
				switch i % 3 {
				case 0:
					r, err = f.tryDo("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", fmt.Sprintf("w%d n%d", w, i)))
				case 1:
					r, err = f.tryDo("doc@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, careTeamJSON(pid, f.ids["doc@test.hush"], f.ids["doc2@test.hush"]))
				default:
					r, err = f.tryDo("doc@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, careTeamJSON(pid, f.ids["doc@test.hush"]))
				}
				if err != nil {
					return
				}
				if r.status < 300 {
					mu.Lock()
					acked++
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			tok, err := f.try("token", "create", "--email", "doc2@test.hush", "--password-file", f.pwFile)
			if err != nil {
				continue
			}
			id, _ := tokenParts(t, strings.TrimSpace(tok))
			f.try("token", "revoke", "--id", id)
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := acked
		mu.Unlock()
		if n >= 60 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	close(stop)
	wg.Wait()
	t.Logf("%d writes acknowledged before kill -9", acked)

	cmd = f.startProcess()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "after the crash")))
	if r := f.do("doc@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, careTeamJSON(pid, f.ids["doc@test.hush"], f.ids["doc2@test.hush"])); r.status >= 300 {
		t.Errorf("care-team change after the crash: %d %s", r.status, r.body)
	}
	if err := sweepLike(t, f); err != nil {
		t.Errorf("after kill -9, a write after the state check fails: %v", err)
	}
	if ev := integrityEvents(t, f); len(ev) > 0 {
		t.Errorf("integrity alerts after kill -9 on an untampered clinic: %v", ev)
	}
}

// TestRedRound3OldPasswordPutBack: the password fields of a user row
// (pw_salt, pw_verifier, pw_key) are in neither the row's state MAC nor
// the digest. The admin who chose a clinician's first password (and who
// can write the file, without the KEK) puts the three columns back from a
// copy taken before the clinician's first sign-in: the old password, which
// the clinician replaced so that its chooser would hold nothing, passes
// the password step again — with no alert. (The second factor still
// stands in the way of a full sign-in; rolled-back grants rows would then
// open the old epochs with the old key.)
func TestRedRound3OldPasswordPutBack(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	doc := f.ids["doc@test.hush"]
	old := f.snapshotRow(`SELECT pw_salt, pw_verifier, pw_key FROM users WHERE id = ?`, []any{doc}, 3)
	f.serve()
	b := f.browser(t, "127.0.0.1")
	b.firstSignIn("doc@test.hush", testPassword, f.enrol["doc@test.hush"])
	f.shutdown()

	f.tamperArgs(`UPDATE users SET pw_salt = ?, pw_verifier = ?, pw_key = ? WHERE id = ?`, append(old, doc)...)
	if err := f.serveOrRefuse(); err != nil {
		return // refused start: defended
	}
	b2 := f.browser(t, "127.0.0.2")
	if p := b2.signIn("doc@test.hush", testPassword); p.path == "/signin/mfa" {
		t.Errorf("the replaced first password passes the password step again after the old columns were put back; integrity alert: %v",
			hook.anyIntegrity(2*time.Second))
	}
}

// TestRedRound3CanaryPlantWitnessWhileServing: canaries planned from the
// command line while the server runs are planted by the server among
// reception's registrations; a witness is added from the command line
// while the server publishes checkpoints; intake patients get their first
// care team; reset-mfa and deactivation run beside it. No integrity alert,
// no refused write, the clinic starts again.
func TestRedRound3CanaryPlantWitnessWhileServing(t *testing.T) {
	f := newFixture(t, "desk@test.hush=reception", "doc@test.hush=clinician", "doc2@test.hush=clinician", "gone@test.hush=clinician")
	hook := alertsToWebhook(t, f)
	cl := f.open()
	origin, vkey := cl.Audit().Origin(), cl.AuditVerifierKey()
	cl.Close()
	w := witnesstest.Start(t, origin, vkey)
	f.serve("--canary-plant-delay", "0", "--checkpoint-interval", "50ms")
	f.run("canary", "add", "--count", "3")
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	var pids []string
	var mu sync.Mutex
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 12; i++ {
			r, err := f.tryDo("desk@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Intake", fmt.Sprintf("I%d", i), makeHETU(1+i, 2, 1990, 500+i), "+35840100"+fmt.Sprintf("%04d", i)))
			if err != nil || r.status != 201 {
				errs <- fmt.Sprintf("registration %d: %v %d %s", i, err, r.status, r.body)
				continue
			}
			mu.Lock()
			pids = append(pids, r.json()["id"].(string))
			mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		if _, err := f.try("audit", "witness", "--data", f.data, "--kek-file", f.kek, "--url", w.URL, "--vkey", w.Verifier.(fmt.Stringer).String()); err != nil {
			errs <- fmt.Sprintf("witness add: %v", err)
		}
		if _, err := f.try("user", "reset-mfa", "--email", "doc2@test.hush", "--show-code"); err != nil {
			errs <- fmt.Sprintf("reset-mfa: %v", err)
		}
		if _, err := f.try("user", "deactivate", "--email", "gone@test.hush"); err != nil {
			errs <- fmt.Sprintf("deactivate: %v", err)
		}
	}()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("untampered step refused: %s", e)
	}
	for i, pid := range pids {
		if i%2 == 0 {
			if r := f.do("desk@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, careTeamJSON(pid, f.ids["doc@test.hush"])); r.status >= 300 {
				t.Errorf("first care team: %d %s", r.status, r.body)
			}
			f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "intake visit")))
		}
	}
	time.Sleep(500 * time.Millisecond)
	if err := sweepLike(t, f); err != nil {
		t.Errorf("a write after the state check fails: %v", err)
	}
	f.shutdown()
	cl = f.open()
	planted, pending, err := cl.CanaryCount(context.Background())
	cl.Close()
	t.Logf("canaries planted %d, pending %d (%v)", planted, pending, err)
	if err := f.serveOrRefuse(); err != nil {
		t.Fatalf("the untampered clinic refused to start: %v", err)
	}
	f.must(201, f.do("desk@test.hush", "POST", "/fhir/R4/Patient", patientJSON("After", "Aapo", makeHETU(20, 3, 1991, 777), "+358401009999")))
	if hook.anyIntegrity(500 * time.Millisecond) {
		t.Errorf("integrity alert on an untampered clinic")
	}
	f.shutdown()
	if ev := integrityEvents(t, f); len(ev) > 0 {
		t.Errorf("integrity alerts on an untampered clinic: %v", ev)
	}
}

// syncBuf is a goroutine-safe output buffer.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRedRound3DemoNoFalseAlarm: hush demo builds a clinic through the
// API's code paths and serves it; stopped and opened again (as the
// operator would, with its KEK), it opens without an integrity alert and
// the server starts on it.
func TestRedRound3DemoNoFalseAlarm(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var out syncBuf
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, []string{"demo", "--patients", "6", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--keep"},
			cli.Env{Getenv: func(string) string { return "" }, Stdout: &out, Stderr: io.Discard})
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "serving ") && time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("demo ended: %v\n%s", err, out.String())
		default:
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo: %v", err)
	}
	dirs, _ := filepath.Glob(filepath.Join(tmp, "hush-demo-*"))
	if len(dirs) != 1 {
		t.Fatalf("demo dirs %v", dirs)
	}
	f := &fixture{t: t, root: dirs[0], data: filepath.Join(dirs[0], "data"), kek: filepath.Join(dirs[0], "keys", "hush.kek")}
	if err := f.serveOrRefuse(); err != nil {
		t.Fatalf("the demo clinic refuses to start again: %v", err)
	}
	f.shutdown()
	if ev := integrityEvents(t, f); len(ev) > 0 {
		t.Errorf("integrity alerts on the demo clinic: %v", ev)
	}
}

// oldHush builds the hush command as it was before the integrity MACs
// (the parent of caf6207, which added migration 0012) into dir.
func oldHush(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds an older hush")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.Mkdir(src, 0o700)
	arch := exec.Command("sh", "-c", "cd \"$(git rev-parse --show-toplevel)\" && git archive caf6207~1 | tar -x -C "+src)
	if out, err := arch.CombinedOutput(); err != nil {
		t.Skipf("no git history here: %v %s", err, out)
	}
	bin := filepath.Join(dir, "hush-old")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hush")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("the old hush does not build: %v %s", err, out)
	}
	return bin
}

// TestRedRound3UpgradeAfterWrongKEK: the upgrade to the integrity MACs.
// The operator installs the new Hush and starts it once with the wrong
// --kek-file (a typo, the test clinic's key): Open applies the
// migrations, then refuses the key. Started again with the right key, the
// stamping no longer runs (this process did not apply 0012), the digest
// is missing, and the untampered clinic refuses to start with an
// integrity alert — a clinic taken offline by a typo.
func TestRedRound3UpgradeAfterWrongKEK(t *testing.T) {
	bin := oldHush(t)
	root := t.TempDir()
	data, kek, pw := filepath.Join(root, "data"), filepath.Join(root, "keys", "hush.kek"), filepath.Join(root, "pw")
	os.MkdirAll(filepath.Dir(kek), 0o700)
	os.WriteFile(pw, []byte(testPassword+"\n"), 0o600)
	old := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("old hush %v: %v %s", args, err, out)
		}
	}
	old("init", "--data", data, "--kek-file", kek, "--clinic", "Old Clinic", "--admin", "admin@test.hush", "--password-file", pw, "--shares-dir", filepath.Join(root, "shares"), "--canaries", "0")
	old("user", "add", "--data", data, "--kek-file", kek, "--email", "doc@test.hush", "--name", "Doc", "--role", "clinician", "--password-file", pw)

	other := newFixture(t) // another clinic: its key file is the wrong one here
	f := &fixture{t: t, root: root, data: data, kek: other.kek, tokens: map[string]string{}, ids: map[string]string{}}
	if err := f.serveOrRefuse(); err == nil {
		f.shutdown()
		t.Fatal("the wrong key file was accepted")
	}
	f.kek = kek
	if err := f.serveOrRefuse(); err != nil {
		t.Fatalf("after one start with the wrong key file, the untampered upgraded clinic refuses to start: %v", err)
	}
	f.shutdown()
	if ev := integrityEvents(t, f); len(ev) > 0 {
		t.Errorf("integrity alerts on an untampered upgraded clinic: %v", ev)
	}
}

// TestRedRound3UpgradeControl: the same upgrade with the right key file
// from the start (the control for TestRedRound3UpgradeAfterWrongKEK).
func TestRedRound3UpgradeControl(t *testing.T) {
	bin := oldHush(t)
	root := t.TempDir()
	data, kek, pw := filepath.Join(root, "data"), filepath.Join(root, "keys", "hush.kek"), filepath.Join(root, "pw")
	os.MkdirAll(filepath.Dir(kek), 0o700)
	os.WriteFile(pw, []byte(testPassword+"\n"), 0o600)
	for _, args := range [][]string{
		{"init", "--data", data, "--kek-file", kek, "--clinic", "Old Clinic", "--admin", "admin@test.hush", "--password-file", pw, "--shares-dir", filepath.Join(root, "shares"), "--canaries", "0"},
		{"user", "add", "--data", data, "--kek-file", kek, "--email", "doc@test.hush", "--name", "Doc", "--role", "clinician", "--password-file", pw},
	} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("old hush %v: %v %s", args, err, out)
		}
	}
	f := &fixture{t: t, root: root, data: data, kek: kek, tokens: map[string]string{}, ids: map[string]string{}}
	if err := f.serveOrRefuse(); err != nil {
		t.Fatalf("the upgraded clinic refuses to start: %v", err)
	}
	f.shutdown()
	if ev := integrityEvents(t, f); len(ev) > 0 {
		t.Errorf("integrity alerts on an untampered upgraded clinic: %v", ev)
	}
}

// TestRedRound3UpgradeRichClinic: a clinic used by the old Hush (patients,
// notes, care teams, canaries, tokens created and revoked, a deactivated
// clinician) is upgraded: it starts without an integrity alert and takes
// writes.
func TestRedRound3UpgradeRichClinic(t *testing.T) {
	bin := oldHush(t)
	root := t.TempDir()
	data, kek, pw := filepath.Join(root, "data"), filepath.Join(root, "keys", "hush.kek"), filepath.Join(root, "pw")
	os.MkdirAll(filepath.Dir(kek), 0o700)
	os.WriteFile(pw, []byte(testPassword+"\n"), 0o600)
	old := func(args ...string) string {
		t.Helper()
		full := append([]string{args[0]}, args[1:]...)
		if args[0] != "init" {
			full = append([]string{args[0], args[1], "--data", data, "--kek-file", kek}, args[2:]...)
		}
		out, err := exec.Command(bin, full...).Output()
		if err != nil {
			t.Fatalf("old hush %v: %v %s", full, err, out)
		}
		return string(out)
	}
	old("init", "--data", data, "--kek-file", kek, "--clinic", "Old Clinic", "--admin", "admin@test.hush", "--password-file", pw, "--shares-dir", filepath.Join(root, "shares"))
	tokens := map[string]string{}
	for _, u := range []string{"doc", "doc2", "gone", "desk"} {
		role := "clinician"
		if u == "desk" {
			role = "reception"
		}
		old("user", "add", "--email", u+"@test.hush", "--name", u, "--role", role, "--password-file", pw)
		tokens[u] = strings.TrimSpace(old("token", "create", "--email", u+"@test.hush", "--password-file", pw))
	}
	cmd := exec.Command(bin, "serve", "--data", data, "--kek-file", kek, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		var acc string
		for {
			n, err := stdout.Read(buf)
			acc += string(buf[:n])
			if i := strings.Index(acc, "serving "); i >= 0 {
				if j := strings.IndexByte(acc[i:], '\n'); j >= 0 {
					line <- strings.TrimPrefix(acc[i:i+j], "serving ")
					io.Copy(io.Discard, stdout)
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	var base string
	select {
	case base = <-line:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("old server did not start")
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	do := func(who, method, path string, body any) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(mustJSON(body)))
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Authorization", "Bearer "+tokens[who])
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &m)
		if resp.StatusCode >= 300 {
			t.Fatalf("old server %s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return m
	}
	ids := map[string]string{}
	for _, u := range []string{"doc", "doc2", "gone"} {
		out := old("user", "list")
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, u+"@test.hush") {
				ids[u] = strings.Fields(l)[0]
			}
		}
	}
	var pids []string
	for i := 0; i < 4; i++ {
		p := do("doc", "POST", "/fhir/R4/Patient", patientJSON("Old", fmt.Sprintf("O%d", i), makeHETU(2+i, 6, 1970, 600+i), "+358401110000", ids["doc"]))
		pid := p["id"].(string)
		pids = append(pids, pid)
		do("doc", "PUT", "/fhir/R4/CareTeam/"+pid, careTeamJSON(pid, ids["doc"], ids["doc2"], ids["gone"]))
		do("doc", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "old note"))
	}
	do("desk", "POST", "/fhir/R4/Patient", patientJSON("Intake", "Iida", makeHETU(9, 6, 1970, 699), "+358401110009", ids["doc2"]))
	cmd.Process.Kill()
	cmd.Wait()
	old("user", "deactivate", "--email", "gone@test.hush")
	id, _ := tokenParts(t, tokens["doc2"])
	old("token", "revoke", "--id", id)

	f := &fixture{t: t, root: root, data: data, kek: kek, pwFile: pw, tokens: tokens, ids: ids}
	if err := f.serveOrRefuse(); err != nil {
		t.Fatalf("the upgraded clinic refuses to start: %v", err)
	}
	f.tokens = map[string]string{"doc@test.hush": tokens["doc"]}
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pids[0], "SOAP", "final", "new note")))
	f.must(200, f.do("doc@test.hush", "PUT", "/fhir/R4/CareTeam/"+pids[1], careTeamJSON(pids[1], ids["doc"])))
	f.shutdown()
	if ev := integrityEvents(t, f); len(ev) > 0 {
		t.Errorf("integrity alerts on an untampered upgraded clinic: %v", ev)
	}
}

// TestRedRound3UpgradeConcurrentOpen: the first start of the new Hush on
// an old clinic, while a second command (hush token list, a backup) opens
// it too: the second process sees migration 0012 applied by the first but
// not yet stamped, finds no digest, raises integrity.state and refuses.
// Both should open (or the second wait), with no integrity alert.
func TestRedRound3UpgradeConcurrentOpen(t *testing.T) {
	bin := oldHush(t)
	var failures []string
	for round := 0; round < 10 && len(failures) == 0; round++ {
		root := t.TempDir()
		data, kekFile, pw := filepath.Join(root, "data"), filepath.Join(root, "keys", "hush.kek"), filepath.Join(root, "pw")
		os.MkdirAll(filepath.Dir(kekFile), 0o700)
		os.WriteFile(pw, []byte(testPassword+"\n"), 0o600)
		if out, err := exec.Command(bin, "init", "--data", data, "--kek-file", kekFile, "--clinic", "Old Clinic", "--admin", "admin@test.hush", "--password-file", pw, "--shares-dir", filepath.Join(root, "shares"), "--canaries", "0").CombinedOutput(); err != nil {
			t.Fatalf("old init: %v %s", err, out)
		}
		kek, err := seal.LoadKEKFile(kekFile)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := 0; i < 5; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				time.Sleep(time.Duration(i*(1+round%4)) * time.Millisecond)
				cl, err := clinic.Open(context.Background(), data, kek)
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("round %d process %d: %v", round, i, err))
					mu.Unlock()
					return
				}
				cl.Close()
			}(i)
		}
		wg.Wait()
		f := &fixture{t: t, root: root, data: data, kek: kekFile}
		if ev := integrityEvents(t, f); len(ev) > 0 {
			failures = append(failures, fmt.Sprintf("round %d: integrity alerts %v", round, ev))
		}
	}
	for _, e := range failures {
		t.Errorf("concurrent first opens of an untampered upgraded clinic: %s", e)
	}
}
