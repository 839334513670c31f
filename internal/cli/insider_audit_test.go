package cli_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
	_ "modernc.org/sqlite"

	"github.com/hushepr/hush/internal/alert/alerttest"
	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/audit/witness/witnesstest"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/store"
)

// alertsTo points the clinic's alerts at a real webhook receiver and a
// real SMTP relay, as an admin would on the settings page, changing
// settings with change.
func alertsTo(t *testing.T, f *fixture, change func(*clinic.Settings)) (*webhookReceiver, *alerttest.SMTPServer) {
	t.Helper()
	hook := &webhookReceiver{secret: []byte("a webhook secret of at least 32 bytes!")}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	relay := alerttest.StartSMTP(t, nil)
	cl := f.open()
	defer cl.Close()
	s := clinic.DefaultSettings()
	s.Hours = [7]string{"00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00"}
	s.WebhookURL, s.WebhookSecret = srv.URL+"/hush-alerts", string(hook.secret)
	s.SMTPAddr, s.SMTPFrom, s.SMTPTo = relay.Addr(), "hush@clinic.test", []string{"security@clinic.test"}
	if change != nil {
		change(&s)
	}
	if err := cl.UpdateSettings(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return hook, relay
}

// rawDB opens the stopped server's database as a writer without the KEK
// would, and drops the append-only triggers.
func rawDB(t *testing.T, f *fixture) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.data, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, trg := range []string{"audit_events_no_update", "audit_events_no_delete", "audit_hashes_no_update", "audit_hashes_no_delete", "audit_checkpoints_no_update", "audit_checkpoints_no_delete"} {
		if _, err := db.Exec("DROP TRIGGER IF EXISTS " + trg); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// latestCosigned is the largest size a witness cosigned, as stored.
func latestCosigned(t *testing.T, f *fixture) int64 {
	t.Helper()
	cl := f.open()
	defer cl.Close()
	var n int64
	cl.DB().Read(context.Background(), func(tx *store.Tx) error {
		cos, err := tx.Cosignatures()
		for _, c := range cos {
			n = max(n, c.Size)
		}
		return err
	})
	return n
}

// TestInsiderTailCut: an insider with the stopped server's database cuts
// the audit log back to the auditor's checkpoint — the later events, their
// tree hashes, checkpoints and cosignatures — so that verify with the
// auditor's checkpoint and pinned key alone still passes. Verify asks the
// real litewitness, which cosigned the longer log, and fails naming the
// size it cosigned; the restarted server notices the cut at once and
// alerts on the clinic's webhook, not only in the data directory.
func TestInsiderTailCut(t *testing.T) {
	f := newFixture(t, "a@test.hush=clinician")
	hook, relay := alertsTo(t, f, nil)
	cl := f.open()
	origin, vkey := cl.Audit().Origin(), cl.AuditVerifierKey()
	cl.Close()
	w := witnesstest.Start(t, origin, vkey)
	f.run("audit", "witness", "--data", f.data, "--kek-file", f.kek, "--url", w.URL, "--vkey", w.Verifier.(fmt.Stringer).String())

	f.serve("--checkpoint-interval", "50ms")
	p := f.must(201, f.do("a@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Turunen", "Aada", makeHETU(6, 6, 1996, 666), "+358 40 666 0000")))
	pid := p["id"].(string)
	f.must(200, f.do("a@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+pid, nil))
	f.shutdown()
	// The auditor takes a cosigned checkpoint away.
	ck := f.run("audit", "checkpoint", "--data", f.data, "--kek-file", f.kek)
	ckFile := filepath.Join(f.root, "auditor-checkpoint.txt")
	if err := os.WriteFile(ckFile, []byte(ck), 0o600); err != nil {
		t.Fatal(err)
	}
	var cut int64
	fmt.Sscanf(strings.Split(ck, "\n")[1], "%d", &cut)

	// The clinic works on; the witness cosigns the longer log.
	f.serve("--checkpoint-interval", "50ms")
	for i := range 5 {
		f.must(201, f.do("a@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", fmt.Sprint("note ", i))))
		f.must(200, f.do("a@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+pid, nil))
	}
	f.shutdown()
	// A later cosigned checkpoint, kept off the server by someone else.
	later := f.run("audit", "checkpoint", "--data", f.data, "--kek-file", f.kek)
	laterFile := filepath.Join(f.root, "cosigned-checkpoint.txt")
	if err := os.WriteFile(laterFile, []byte(later), 0o600); err != nil {
		t.Fatal(err)
	}
	cosigned := latestCosigned(t, f)
	if cosigned <= cut || !strings.Contains(later, fmt.Sprintf("\n%d\n", cosigned)) {
		t.Fatalf("the witness cosigned %d, not more than the auditor's %d (latest checkpoint:\n%s)", cosigned, cut, later)
	}
	wvkey := w.Verifier.(fmt.Stringer).String()

	// The attack: cut everything after the auditor's checkpoint.
	db := rawDB(t, f)
	for _, s := range []string{
		fmt.Sprintf(`DELETE FROM audit_events WHERE idx >= %d`, cut),
		fmt.Sprintf(`DELETE FROM audit_hashes WHERE id >= %d`, tlog.StoredHashCount(cut)),
		fmt.Sprintf(`DELETE FROM audit_checkpoints WHERE size > %d`, cut),
		fmt.Sprintf(`DELETE FROM audit_cosignatures WHERE size > %d`, cut),
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()

	// What the server's own data says: consistent (this passed before).
	if out, err := f.try("audit", "verify", "--data", f.data, "--checkpoint", ckFile, "--vkey", vkey, "--offline"); err != nil || !strings.Contains(out, "audit log verified") {
		t.Fatalf("offline verify of the cut log: %v %s", err, out)
	}
	// Asking the witness: it cosigned more than the log now holds.
	_, err := f.try("audit", "verify", "--data", f.data, "--checkpoint", ckFile, "--vkey", vkey, "--witness-vkey", wvkey)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("cosigned %d events", cosigned)) || !strings.Contains(err.Error(), "tail was cut") {
		t.Fatalf("verify asking the witness: %v", err)
	}
	// The cosigned checkpoint kept as a file says the same, offline.
	_, err = f.try("audit", "verify", "--data", f.data, "--vkey", vkey, "--offline", "--witness-checkpoint", laterFile)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("cosigned %d events", cosigned)) {
		t.Fatalf("verify with the kept cosigned checkpoint: %v", err)
	}
	// The restarted server notices at once and alerts remotely: the state
	// digest names an anchor the cut removed, so it refuses to start; had
	// it started, its head check would have raised audit.truncated.
	if err := f.serveOrRefuse(); err != nil {
		a := hook.waitKind(t, "integrity.state")
		if a["severity"] != "critical" {
			t.Errorf("alert: %v", a)
		}
		waitMail(t, relay, "integrity.state", "")
		return
	}
	a := hook.waitFor(t, "audit.truncated", "audit-log")
	if a["severity"] != "critical" {
		t.Errorf("alert: %v", a)
	}
	waitMail(t, relay, "audit.truncated", "audit-log")
	if s := mustJSON(a); strings.Contains(s, pid) || strings.Contains(s, "Turunen") {
		t.Errorf("the alert carries patient data: %s", s)
	}
}

// TestInsiderRejectedTokenFlood: a client that never signs in sends 5,000
// bad bearer tokens. It writes a handful of audit events (its first
// failure, then counts), not 5,000; a clinician's work meanwhile is
// audited as always.
func TestInsiderRejectedTokenFlood(t *testing.T) {
	f := newFixture(t, "a@test.hush=clinician")
	f.serve()
	p := f.must(201, f.do("a@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Turunen", "Aada", makeHETU(6, 6, 1996, 666), "+358 40 666 0000")))
	pid := p["id"].(string)
	const flood = 5000
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				var b [16]byte
				rand.Read(b[:])
				r := f.doBearer("hush_"+hex.EncodeToString(b[:])+"_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET", "/fhir/R4/Patient?name=a")
				if r.status != 401 {
					t.Errorf("bad token: %d", r.status)
				}
			}
		}()
	}
	for i := range flood {
		work <- i
		if i == flood/2 {
			// Real work in the middle of the flood.
			f.must(200, f.do("a@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+pid, nil))
		}
	}
	close(work)
	wg.Wait()
	// Each minute the flood spans costs at most two events (its first
	// failure, then the count); on this machine it takes seconds.
	minutes := time.Now().Unix()/60 - start.Unix()/60 + 1
	f.must(200, f.do("a@test.hush", "GET", "/fhir/R4/Patient/"+pid, nil))
	f.shutdown()

	cl := f.open()
	defer cl.Close()
	evs, err := cl.SearchAudit(context.Background(), clinic.AuditQuery{ActionPrefix: audit.ActTokenRejected, Limit: clinic.MaxAuditPage})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, ev := range evs {
		total += max(ev.Count, 1)
	}
	t.Logf("%d bad tokens wrote %d token.rejected events (counting %d)", flood, len(evs), total)
	if int64(len(evs)) > 2*minutes {
		t.Fatalf("%d bad tokens in %d clock minutes wrote %d events, want at most %d", flood, minutes, len(evs), 2*minutes)
	}
	if total != flood {
		t.Errorf("the events count %d failures, want %d", total, flood)
	}
	if out := f.run("audit", "show", "--data", f.data, "--kek-file", f.kek); !strings.Contains(out, "token.rejected") || !strings.Contains(out, " times)  from 127.0.0.1") {
		t.Errorf("audit show does not show the burst's count:\n%s", out)
	}
	for _, action := range []string{audit.ActChartRead, audit.ActPatientRead} {
		got, err := cl.SearchAudit(context.Background(), clinic.AuditQuery{ActionPrefix: action, PatientID: pid})
		if err != nil || len(got) == 0 {
			t.Errorf("the clinician's %s during the flood was not audited: %v", action, err)
		}
	}
	if out := f.run("audit", "verify", "--data", f.data); !strings.Contains(out, "audit log verified") {
		t.Errorf("verify: %s", out)
	}
}

// doBearer sends a request with a raw bearer token.
func (f *fixture) doBearer(bearer, method, path string) response {
	req, err := http.NewRequest(method, f.url+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Error(err)
		return response{}
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return response{status: resp.StatusCode}
}

// TestInsiderAuditAPISealed: an auditor's token reading AuditEvent gets no
// search term, identity code or client address (they stay sealed, for the
// KEK holder's hush audit show); and pages of the log that name more
// patients than the audit limit freeze the token and alert.
func TestInsiderAuditAPISealed(t *testing.T) {
	f := newFixture(t, "a@test.hush=clinician", "dpo@test.hush=auditor")
	hook, relay := alertsTo(t, f, func(s *clinic.Settings) { s.AuditLimit = 5 })
	f.serve()
	var ids []string
	codes := []string{}
	for i := range 8 {
		code := makeHETU(1+i, 3, 1980+i, 200+i)
		codes = append(codes, code)
		p := f.must(201, f.do("a@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Virtanen", fmt.Sprintf("Given%d", i), code, "+358401234567")))
		ids = append(ids, p["id"].(string))
	}
	f.must(200, f.do("a@test.hush", "GET", "/fhir/R4/Patient?name=Virtanen", nil))
	f.must(200, f.do("a@test.hush", "GET", "/fhir/R4/Patient?identifier="+codes[0], nil))

	// One patient's trail: no search term, code or address.
	r := f.must(200, f.do("dpo@test.hush", "GET", "/fhir/R4/AuditEvent?patient="+ids[0], nil))
	body := mustJSON(r)
	for _, secret := range []string{"Virtanen", codes[0], "127.0.0.1", "network"} {
		if strings.Contains(body, secret) {
			t.Errorf("AuditEvent discloses %q to an auditor token", secret)
		}
	}
	if !strings.Contains(body, `"sealed"`) {
		t.Errorf("AuditEvent does not say its private details are sealed: %s", body)
	}
	// The KEK holder at the command line still sees them.
	out := f.run("audit", "show", "--data", f.data, "--kek-file", f.kek, "--patient", ids[0])
	if !strings.Contains(out, `search "Virtanen"`) || !strings.Contains(out, "from 127.0.0.1") {
		t.Errorf("audit show lacks the opened search term or address:\n%s", out)
	}

	// The whole log names 8 patients: past the limit of 5.
	if r := f.do("dpo@test.hush", "GET", "/fhir/R4/AuditEvent?_count=200", nil); r.status != 403 || !strings.Contains(r.diagnostics(), "frozen") {
		t.Fatalf("a page naming 8 patients past a limit of 5: %d %s", r.status, r.body)
	}
	a := hook.waitFor(t, "volume.audit", f.ids["dpo@test.hush"])
	if a["severity"] != "critical" || a["frozen"] != true || a["limit"] != float64(5) {
		t.Errorf("alert: %v", a)
	}
	waitMail(t, relay, "volume.audit", f.ids["dpo@test.hush"])
	if r := f.do("dpo@test.hush", "GET", "/fhir/R4/AuditEvent?patient="+ids[0], nil); r.status != 403 {
		t.Errorf("the frozen auditor token: %d", r.status)
	}
}
