package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/alert"
	"github.com/hushepr/hush/internal/alert/alerttest"
	"github.com/hushepr/hush/internal/clinic"
)

// webhookReceiver is the clinic's alert endpoint: a real HTTP server on
// loopback that accepts only correctly signed alerts.
type webhookReceiver struct {
	secret []byte
	mu     sync.Mutex
	got    []map[string]any
	forged int
}

func (wr *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := alert.VerifyWebhook(wr.secret, r.Header.Get(alert.HeaderTimestamp), r.Header.Get(alert.HeaderSignature), body, time.Now(), 0); err != nil {
		wr.mu.Lock()
		wr.forged++
		wr.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var a map[string]any
	json.Unmarshal(body, &a)
	wr.mu.Lock()
	wr.got = append(wr.got, a)
	wr.mu.Unlock()
}

// waitFor waits until an alert of kind about account has arrived.
func (wr *webhookReceiver) waitFor(t *testing.T, kind, account string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		wr.mu.Lock()
		for _, a := range wr.got {
			if a["kind"] == kind && a["account"] == account {
				wr.mu.Unlock()
				return a
			}
		}
		wr.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s alert for %s reached the webhook", kind, account)
	return nil
}

// waitMail waits until the relay holds a message whose body names account.
func waitMail(t *testing.T, relay *alerttest.SMTPServer, kind, account string) alerttest.Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range relay.Messages() {
			if strings.Contains(m.Data, account) && strings.Contains(m.Data, kind) {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s mail about %s reached the relay", kind, account)
	return alerttest.Message{}
}

// tripwireFixture is a clinic with a clinician treating 60 patients, 260
// patients in all (identity codes outside the canaries' temporary range),
// the default record and directory limits, alerts going to a real webhook receiver and a real SMTP
// relay, served by hush serve.
type tripwireFixture struct {
	*fixture
	docPatients []string
	canaries    []string
	hook        *webhookReceiver
	relay       *alerttest.SMTPServer
}

func newTripwireFixture(t *testing.T) *tripwireFixture {
	f := newFixture(t, "doc@test.hush=clinician", "desk@test.hush=reception", "desk2@test.hush=reception")
	tf := &tripwireFixture{fixture: f, hook: &webhookReceiver{secret: []byte("a webhook secret of at least 32 bytes!")}, relay: alerttest.StartSMTP(t, nil)}
	hookSrv := httptest.NewServer(tf.hook)
	t.Cleanup(hookSrv.Close)

	// Three canaries, as hush init makes by default.
	if out := f.run("canary", "add", "--count", "3", "--now"); !strings.Contains(out, "added 3 canary records; the clinic has 3") {
		t.Fatalf("canary add: %s", out)
	}
	// The clinic's settings, as an admin would set them on the settings
	// page: default limits, alerts to the webhook and the relay.
	cl := f.open()
	ctx := context.Background()
	s := clinic.DefaultSettings()
	s.Hours = [7]string{"00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00"}
	// The setup registers 260 patients in seconds, faster than the
	// request-rate limit allows a person; the sweeps below meet the record
	// and directory limits long before this one.
	s.RateLimit = 1000
	s.WebhookURL, s.WebhookSecret = hookSrv.URL+"/hush-alerts", string(tf.hook.secret)
	s.SMTPAddr, s.SMTPFrom, s.SMTPTo = tf.relay.Addr(), "hush@clinic.test", []string{"security@clinic.test"}
	if err := cl.UpdateSettings(ctx, s); err != nil {
		t.Fatal(err)
	}
	// The canaries (only the operator can tell them apart).
	var err error
	if tf.canaries, err = cl.Canaries(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	f.serve()
	t.Cleanup(f.shutdown)
	families := []string{"Aalto", "Berg", "Castrén", "Dahl", "Eklund", "Forsman", "Granqvist", "Hirvonen", "Ilves", "Jussila", "Kallio", "Lund", "Mäki"}
	for i := range 260 {
		email := "desk@test.hush"
		var gp []string
		if i < 60 {
			email = "doc@test.hush" // a clinician registering puts themselves on the team
		} else {
			gp = []string{f.ids["doc@test.hush"]}
		}
		p := f.must(201, f.do(email, "POST", "/fhir/R4/Patient",
			patientJSON(families[i%len(families)], fmt.Sprintf("Given%03d", i), makeHETU(1+i%28, 1+i%12, 1950+i%50, 100+i%100), "+358401234567", gp...)))
		if i < 60 {
			tf.docPatients = append(tf.docPatients, p["id"].(string))
		}
	}
	return tf
}

// TestStolenClinicianToken: a thief sweeps every chart a stolen clinician
// token reaches, 8 requests at a time. The account is frozen at the 31st
// record, an alert reaches the webhook and the relay, and every request
// after the freeze fails.
func TestStolenClinicianToken(t *testing.T) {
	if testing.Short() {
		t.Skip("a sweep")
	}
	f := newTripwireFixture(t)
	if len(f.canaries) != 3 {
		t.Fatalf("%d canaries, want 3", len(f.canaries))
	}
	doc := f.ids["doc@test.hush"]
	var read, refused atomic.Int64
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				r := f.do("doc@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+id, nil)
				switch r.status {
				case 200:
					read.Add(1)
				case 403:
					refused.Add(1)
				default:
					t.Errorf("chart sweep: status %d", r.status)
				}
			}
		}()
	}
	for _, id := range f.docPatients {
		work <- id
	}
	close(work)
	wg.Wait()
	t.Logf("sweep: %d charts read, %d refused", read.Load(), refused.Load())
	if read.Load() > 30 || read.Load() < 25 {
		t.Fatalf("%d charts read before the freeze, want at most 30 (and not far fewer)", read.Load())
	}
	a := f.hook.waitFor(t, "volume.charts", doc)
	if a["severity"] != "critical" || a["frozen"] != true || a["limit"] != float64(30) {
		t.Errorf("webhook alert: %v", a)
	}
	m := waitMail(t, f.relay, "volume.charts", doc)
	if !strings.Contains(m.Data, "Subject: [Hush] critical: volume.charts") {
		t.Errorf("mail: %s", m.Data)
	}
	f.checkFrozen(t, "doc@test.hush", f.docPatients[0])
	f.hook.mu.Lock()
	if f.hook.forged != 0 {
		t.Errorf("%d webhook posts with a bad signature", f.hook.forged)
	}
	f.hook.mu.Unlock()

	// An admin reviews it: the alert and the freeze are in the audit log,
	// and unfreezing lets the owner work again.
	out := f.run("audit", "show", "--data", f.data, "--kek-file", f.kek)
	if !strings.Contains(out, "alert.volume.charts") || !strings.Contains(out, "account.freeze") {
		t.Errorf("audit show lacks the alert or the freeze:\n%s", out)
	}
	f.shutdown()
	f.run("user", "unfreeze", "--email", "doc@test.hush")
	f.serve()
	f.must(200, f.do("doc@test.hush", "GET", "/fhir/R4/Patient/"+f.docPatients[0], nil))
}

// checkFrozen: after the freeze every request of the account fails —
// reads, searches and writes — and nothing it sends is done.
func (f *tripwireFixture) checkFrozen(t *testing.T, email, patientID string) {
	t.Helper()
	for _, c := range []struct{ method, path string }{
		{"GET", "/fhir/R4/Patient/" + patientID},
		{"GET", "/fhir/R4/Patient?name=a"},
		{"GET", "/fhir/R4/DocumentReference?patient=" + patientID},
		{"GET", "/fhir/R4/Practitioner"},
	} {
		if r := f.do(email, c.method, c.path, nil); r.status != 403 || !strings.Contains(r.diagnostics(), "frozen") {
			t.Errorf("frozen %s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	if r := f.do(email, "POST", "/fhir/R4/DocumentReference", noteJSON(patientID, "SOAP", "final", "written after the freeze")); r.status != 403 {
		t.Errorf("frozen write: %d", r.status)
	}
}

// TestStolenReceptionToken: a thief pages through the patient directory
// with a stolen reception token, searching every letter. The sweep is cut
// off before it has seen more than 200 patients.
func TestStolenReceptionToken(t *testing.T) {
	if testing.Short() {
		t.Skip("a sweep")
	}
	f := newTripwireFixture(t)
	desk := f.ids["desk2@test.hush"]
	seen := map[string]bool{}
	cutAt := ""
	for _, prefix := range strings.Split("a b c d e f g h i j k l m n o p q r s t u v w x y z å ä ö", " ") {
		r := f.do("desk2@test.hush", "GET", "/fhir/R4/Patient?name="+prefix, nil)
		if r.status == 403 {
			if cutAt == "" {
				cutAt = prefix
			}
			continue
		}
		if r.status != 200 {
			t.Fatalf("search %q: %d", prefix, r.status)
		}
		var bundle struct {
			Entry []struct{ Resource struct{ ID string } }
		}
		json.Unmarshal(r.body, &bundle)
		for _, e := range bundle.Entry {
			seen[e.Resource.ID] = true
		}
	}
	t.Logf("directory sweep: %d patients seen, cut off at %q", len(seen), cutAt)
	if len(seen) > 200 || cutAt == "" {
		t.Fatalf("the sweep saw %d patients (limit 200), cut off at %q", len(seen), cutAt)
	}
	f.hook.waitFor(t, "volume.directory", desk)
	waitMail(t, f.relay, "volume.directory", desk)
	f.checkFrozen(t, "desk2@test.hush", f.docPatients[0])
}

// TestCanaryFreezesOnFirstOpen: opening a canary record freezes the
// account on that first request, whatever the role.
func TestCanaryFreezesOnFirstOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("a sweep")
	}
	f := newTripwireFixture(t)
	desk := f.ids["desk@test.hush"]
	// Opening a canary is the first and last thing the account does.
	if r := f.do("desk@test.hush", "GET", "/fhir/R4/Patient/"+f.canaries[0], nil); r.status != 403 {
		t.Fatalf("canary open: %d %s", r.status, r.body)
	}
	a := f.hook.waitFor(t, "canary", desk)
	if a["severity"] != "critical" || a["frozen"] != true {
		t.Errorf("canary alert: %v", a)
	}
	waitMail(t, f.relay, "canary", desk)
	f.checkFrozen(t, "desk@test.hush", f.docPatients[0])
	// A clinician opening a canary chart (not theirs: refused anyway) is
	// frozen just the same.
	if r := f.do("doc@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+f.canaries[1], nil); r.status != 403 {
		t.Fatalf("canary chart: %d", r.status)
	}
	f.hook.waitFor(t, "canary", f.ids["doc@test.hush"])
	f.checkFrozen(t, "doc@test.hush", f.docPatients[0])
}
