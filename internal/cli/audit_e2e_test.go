package cli_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/audit/witness/witnesstest"
	"github.com/hushepr/hush/internal/store"
)

// eventsOf returns the audit events a request produced, by its request id.
func (f *fixture) eventsOf(r response) []audit.Event {
	f.t.Helper()
	id := r.header.Get("X-Request-Id")
	if id == "" {
		f.t.Fatal("response has no X-Request-Id")
	}
	cl := f.open()
	defer cl.Close()
	evs, err := cl.Audit().Search(context.Background(), store.AuditQuery{Limit: 200})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []audit.Event
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].RequestID == id {
			out = append(out, evs[i])
		}
	}
	return out
}

// TestAuditEveryRoute: every FHIR route that touches patient data produces
// the event it should, with actor, patient, outcome and the client address.
func TestAuditEveryRoute(t *testing.T) {
	f := newFixture(t, "a@test.hush=clinician", "b@test.hush=clinician", "desk@test.hush=reception")
	f.serve()
	a, b := f.ids["a@test.hush"], f.ids["b@test.hush"]
	var pid, nid string
	team := func(members ...string) map[string]any {
		var ps []any
		for _, m := range members {
			ps = append(ps, map[string]any{"member": map[string]any{"reference": "Practitioner/" + m}})
		}
		return map[string]any{"resourceType": "CareTeam", "subject": map[string]any{"reference": "Patient/" + pid}, "participant": ps}
	}
	type want struct {
		action, actor, patient, outcome string
	}
	steps := []struct {
		name        string
		who, method string
		path        func() string
		body        func() any
		status      int
		want        []want
		after       func(response)
	}{
		{"register", "a@test.hush", "POST", func() string { return "/fhir/R4/Patient" },
			func() any { return patientJSON("Salonen", "Siiri", makeHETU(2, 2, 1992, 222), "+358 40 222 2222") }, 201,
			[]want{{audit.ActPatientCreate, a, "*", "success"}, {audit.ActGrant, a, "*", "success"}},
			func(r response) { pid = r.json()["id"].(string) }},
		{"read patient", "desk@test.hush", "GET", func() string { return "/fhir/R4/Patient/" + pid }, nil, 200,
			[]want{{audit.ActPatientRead, f.ids["desk@test.hush"], "*", "success"}}, nil},
		{"search by name", "desk@test.hush", "GET", func() string { return "/fhir/R4/Patient?name=salo" }, nil, 200,
			[]want{{audit.ActPatientList, f.ids["desk@test.hush"], "*", "success"}}, nil},
		{"search by identifier", "desk@test.hush", "GET", func() string { return "/fhir/R4/Patient?identifier=" + url.QueryEscape(makeHETU(2, 2, 1992, 222)) }, nil, 200,
			[]want{{audit.ActPatientList, f.ids["desk@test.hush"], "*", "success"}}, nil},
		{"write a draft", "a@test.hush", "POST", func() string { return "/fhir/R4/DocumentReference" },
			func() any { return noteJSON(pid, "SOAP", "preliminary", "draft") }, 201,
			[]want{{audit.ActNoteCreate, a, "*", "success"}}, func(r response) { nid = r.json()["id"].(string) }},
		{"sign", "a@test.hush", "PUT", func() string { return "/fhir/R4/DocumentReference/" + nid },
			func() any { return noteJSON(pid, "SOAP", "final", "signed") }, 200, []want{{audit.ActNoteSign, a, "*", "success"}}, nil},
		{"amend", "a@test.hush", "PUT", func() string { return "/fhir/R4/DocumentReference/" + nid },
			func() any { return noteJSON(pid, "SOAP", "amended", "amended") }, 200, []want{{audit.ActNoteAmend, a, "*", "success"}}, nil},
		{"edit signed in place (refused)", "a@test.hush", "PUT", func() string { return "/fhir/R4/DocumentReference/" + nid },
			func() any { return noteJSON(pid, "SOAP", "final", "x") }, 409, []want{{audit.ActNoteSign, a, "*", "failed"}}, nil},
		{"read note", "a@test.hush", "GET", func() string { return "/fhir/R4/DocumentReference/" + nid }, nil, 200,
			[]want{{audit.ActNoteRead, a, "*", "success"}}, nil},
		{"read a version", "a@test.hush", "GET", func() string { return "/fhir/R4/DocumentReference/" + nid + "/_history/2" }, nil, 200,
			[]want{{audit.ActNoteRead, a, "*", "success"}}, nil},
		{"read history", "a@test.hush", "GET", func() string { return "/fhir/R4/DocumentReference/" + nid + "/_history" }, nil, 200,
			[]want{{audit.ActNoteRead, a, "*", "success"}, {audit.ActNoteRead, a, "*", "success"}, {audit.ActNoteRead, a, "*", "success"}}, nil},
		{"read chart", "a@test.hush", "GET", func() string { return "/fhir/R4/DocumentReference?patient=" + pid }, nil, 200,
			[]want{{audit.ActChartRead, a, "*", "success"}}, nil},
		{"chart outside the care team", "b@test.hush", "GET", func() string { return "/fhir/R4/DocumentReference?patient=" + pid }, nil, 403,
			[]want{{audit.ActChartRead, b, "*", "denied"}}, nil},
		{"note by reception", "desk@test.hush", "GET", func() string { return "/fhir/R4/DocumentReference/" + nid }, nil, 403,
			[]want{{audit.ActNoteRead, f.ids["desk@test.hush"], "*", "denied"}}, nil},
		{"read care team", "desk@test.hush", "GET", func() string { return "/fhir/R4/CareTeam/" + pid }, nil, 200,
			[]want{{audit.ActCareTeamRead, f.ids["desk@test.hush"], "*", "success"}}, nil},
		{"grant", "a@test.hush", "PUT", func() string { return "/fhir/R4/CareTeam/" + pid }, func() any { return team(a, b) }, 200,
			[]want{{audit.ActGrant, a, "*", "success"}}, nil},
		{"revoke", "a@test.hush", "PUT", func() string { return "/fhir/R4/CareTeam/" + pid }, func() any { return team(a) }, 200,
			[]want{{audit.ActRevoke, a, "*", "success"}}, nil},
		{"audit read", "admin@test.hush", "GET", func() string { return "/fhir/R4/AuditEvent?patient=" + pid }, nil, 200,
			[]want{{audit.ActAuditRead, f.ids["admin@test.hush"], "*", "success"}}, nil},
		{"bad token", "", "GET", func() string { return "/fhir/R4/Patient/" + pid }, nil, 401, nil, nil},
	}
	f.ids["admin@test.hush"] = strings.Split(strings.TrimSpace(f.run("user", "list")), "\t")[0]
	steps[len(steps)-2].want[0].actor = f.ids["admin@test.hush"]
	for _, s := range steps {
		var body any
		if s.body != nil {
			body = s.body()
		}
		r := f.do(s.who, s.method, s.path(), body)
		if r.status != s.status {
			t.Fatalf("%s: status %d, want %d: %s", s.name, r.status, s.status, r.body)
		}
		if s.after != nil {
			s.after(r)
		}
		evs := f.eventsOf(r)
		if len(evs) < len(s.want) {
			t.Fatalf("%s: %d events, want at least %d: %+v", s.name, len(evs), len(s.want), evs)
		}
		for i, w := range s.want {
			ev := evs[i]
			wp := w.patient
			if wp == "*" {
				wp = pid
			}
			if ev.Action != w.action || ev.ActorID != w.actor || ev.PatientID != wp || ev.Outcome != w.outcome {
				t.Errorf("%s: event %d is %s by %s on %s (%s); want %s by %s on %s (%s)", s.name, i, ev.Action, ev.ActorID, ev.PatientID, ev.Outcome,
					w.action, w.actor, wp, w.outcome)
			}
			if ev.Private.ClientAddr != "127.0.0.1" {
				t.Errorf("%s: client address %q", s.name, ev.Private.ClientAddr)
			}
		}
	}
	// The log verifies after all of that, with the server still running.
	if out := f.run("audit", "verify", "--data", f.data); !strings.Contains(out, "audit log verified") {
		t.Fatalf("verify: %s", out)
	}
	// Stopping the server signs a last checkpoint that covers everything.
	f.shutdown()
	if out := f.run("audit", "verify", "--data", f.data); strings.Contains(out, "not yet in a signed checkpoint") {
		t.Fatalf("no checkpoint at shutdown: %s", out)
	}
}

// TestAuditEventAPI: admins and auditors see every event; a patient sees who
// opened their own record and when; other staff are refused.
func TestAuditEventAPI(t *testing.T) {
	f := newFixture(t, "a@test.hush=clinician", "desk@test.hush=reception", "dpo@test.hush=auditor")
	f.serve()
	p1 := f.must(201, f.do("a@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Koskinen", "Ella", makeHETU(3, 3, 1983, 333), "+358 40 333 0000")))
	p2 := f.must(201, f.do("a@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Lehtonen", "Joel", makeHETU(4, 4, 1984, 444), "+358 40 444 0000")))
	pid1, pid2 := p1["id"].(string), p2["id"].(string)
	f.must(201, f.do("a@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid1, "SOAP", "final", "one")))
	f.must(200, f.do("a@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+pid1, nil))
	f.must(200, f.do("desk@test.hush", "GET", "/fhir/R4/Patient/"+pid2, nil))
	// Ella gets a patient account.
	ellaID := strings.TrimSpace(f.run("user", "add", "--email", "ella@example.fi", "--name", "Ella Koskinen", "--role", "patient", "--patient", pid1, "--password-file", f.pwFile))
	// Patient accounts are not in the staff directory.
	if r := f.must(200, f.do("desk@test.hush", "GET", "/fhir/R4/Practitioner?name=ella", nil)); r["total"].(float64) != 0 {
		t.Errorf("a patient account is listed as a practitioner: %v", r)
	}
	f.must(404, f.do("desk@test.hush", "GET", "/fhir/R4/Practitioner/"+ellaID, nil))
	f.tokens["ella@example.fi"] = strings.TrimSpace(f.run("token", "create", "--email", "ella@example.fi", "--password-file", f.pwFile))

	all := f.must(200, f.do("dpo@test.hush", "GET", "/fhir/R4/AuditEvent", nil))
	if all["total"].(float64) < 8 {
		t.Fatalf("auditor sees %v events", all["total"])
	}
	f.must(200, f.do("admin@test.hush", "GET", "/fhir/R4/AuditEvent?agent=Practitioner/"+f.ids["desk@test.hush"], nil))
	for _, who := range []string{"a@test.hush", "desk@test.hush"} {
		f.must(403, f.do(who, "GET", "/fhir/R4/AuditEvent?patient="+pid1, nil))
	}
	mine := f.must(200, f.do("ella@example.fi", "GET", "/fhir/R4/AuditEvent", nil))
	entries := mine["entry"].([]any)
	sawChart := false
	for _, e := range entries {
		res := e.(map[string]any)["resource"].(map[string]any)
		if !strings.Contains(mustJSON(res), pid1) {
			t.Errorf("a patient sees an event of another record: %v", res)
		}
		if strings.Contains(mustJSON(res), "127.0.0.1") || strings.Contains(mustJSON(res), "request id") {
			t.Errorf("a patient sees the clinic's internals: %v", res)
		}
		if res["type"].(map[string]any)["code"] == audit.ActChartRead {
			sawChart = true
			who := res["agent"].([]any)[0].(map[string]any)["who"].(map[string]any)
			if who["display"] != "Name of a@test.hush" {
				t.Errorf("chart read shown as by %v", who)
			}
		}
	}
	if !sawChart {
		t.Fatalf("the patient does not see the chart read: %s", mustJSON(mine))
	}
	f.must(403, f.do("ella@example.fi", "GET", "/fhir/R4/AuditEvent?patient="+pid2, nil))
	f.must(403, f.do("ella@example.fi", "GET", "/fhir/R4/Patient/"+pid2, nil))
	f.must(403, f.do("ella@example.fi", "GET", "/fhir/R4/Patient?name=leh", nil))
	f.must(200, f.do("ella@example.fi", "GET", "/fhir/R4/Patient/"+pid1, nil))
	// Date filters.
	today := time.Now().UTC().Format(time.DateOnly)
	if r := f.must(200, f.do("dpo@test.hush", "GET", "/fhir/R4/AuditEvent?date=ge"+today, nil)); r["total"].(float64) == 0 {
		t.Error("date=ge today finds nothing")
	}
	if r := f.must(200, f.do("dpo@test.hush", "GET", "/fhir/R4/AuditEvent?date=lt2000-01-01", nil)); r["total"].(float64) != 0 {
		t.Error("date=lt 2000 finds events")
	}
	f.must(400, f.do("dpo@test.hush", "GET", "/fhir/R4/AuditEvent?date=yesterday", nil))
	// The show command resolves names at display time.
	out := f.run("audit", "show", "--data", f.data, "--kek-file", f.kek, "--patient", pid1)
	if !strings.Contains(out, "Ella Koskinen") || !strings.Contains(out, "chart.read") || !strings.Contains(out, "Name of a@test.hush (clinician)") {
		t.Errorf("audit show:\n%s", out)
	}
}

// TestAuditCLI: checkpoint, prove and verify from the command line, and
// verify naming the first bad index after an edit.
func TestAuditCLI(t *testing.T) {
	f := newFixture(t, "a@test.hush=clinician")
	ck := f.run("audit", "checkpoint", "--data", f.data, "--kek-file", f.kek)
	if !strings.HasPrefix(ck, "hush.local/clinic/") || !strings.Contains(ck, "\n\n— hush.local/clinic/") {
		t.Fatalf("checkpoint:\n%s", ck)
	}
	ckFile := filepath.Join(f.root, "auditor-checkpoint.txt")
	os.WriteFile(ckFile, []byte(ck), 0o600)
	proof := f.run("audit", "prove", "--data", f.data, "--kek-file", f.kek, "--index", "1")
	if !strings.Contains(proof, "index 1") || !strings.Contains(proof, "proof (") {
		t.Fatalf("prove:\n%s", proof)
	}
	cl := f.open()
	vkey := cl.AuditVerifierKey()
	cl.Close()
	if out := f.run("audit", "verify", "--data", f.data, "--checkpoint", ckFile, "--vkey", vkey); !strings.Contains(out, "audit log verified") {
		t.Fatalf("verify: %s", out)
	}
	other := newFixture(t)
	ocl := other.open()
	otherKey := ocl.AuditVerifierKey()
	ocl.Close()
	if _, err := f.try("audit", "verify", "--data", f.data, "--vkey", otherKey); err == nil || !strings.Contains(err.Error(), "not the one you pinned") {
		t.Fatalf("verify with another pinned key: %v", err)
	}
	// Edit event 2 behind Hush's back.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.data, "hush.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`DROP TRIGGER audit_events_no_update`,
		`UPDATE audit_events SET record = CAST(replace(CAST(record AS TEXT), '"outcome":"success"', '"outcome":"failed"') AS BLOB) WHERE idx = 2`} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	_, err = f.try("audit", "verify", "--data", f.data, "--checkpoint", ckFile)
	if err == nil || !strings.Contains(err.Error(), "first bad index 2") {
		t.Fatalf("verify after an edit: %v", err)
	}
}

// TestServeWithWitness: hush serve sends its checkpoints to a configured
// real litewitness as the log grows, and keeps the cosignatures, which
// verify checks.
func TestServeWithWitness(t *testing.T) {
	f := newFixture(t, "a@test.hush=clinician")
	cl := f.open()
	origin, vkey := cl.Audit().Origin(), cl.AuditVerifierKey()
	cl.Close()
	w := witnesstest.Start(t, origin, vkey)
	out := f.run("audit", "witness", "--data", f.data, "--kek-file", f.kek, "--url", w.URL, "--vkey", w.Verifier.(fmt.Stringer).String())
	if !strings.Contains(out, witnesstest.Name) {
		t.Fatalf("witness add: %s", out)
	}
	f.serve("--checkpoint-interval", "50ms")
	p := f.must(201, f.do("a@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Turunen", "Aada", makeHETU(6, 6, 1996, 666), "+358 40 666 0000")))
	deadline := time.Now().Add(20 * time.Second)
	cosigned := 0
	for i := 0; time.Now().Before(deadline) && cosigned < 3; i++ {
		f.must(200, f.do("a@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+p["id"].(string), nil))
		time.Sleep(60 * time.Millisecond)
		cl := f.open()
		var cos []store.CosignatureRow
		cl.DB().Read(context.Background(), func(tx *store.Tx) error { cos, _ = tx.Cosignatures(); return nil })
		cl.Close()
		cosigned = len(cos)
	}
	if cosigned < 3 {
		t.Fatalf("only %d cosignatures as the log grew", cosigned)
	}
	f.shutdown()
	out = f.run("audit", "verify", "--data", f.data)
	if !strings.Contains(out, "witness cosignatures") || strings.Contains(out, " 0 witness cosignatures") {
		t.Fatalf("verify: %s", out)
	}
	latest := f.run("audit", "checkpoint", "--data", f.data, "--kek-file", f.kek)
	if !strings.Contains(latest, "— "+witnesstest.Name+" ") {
		t.Fatalf("latest checkpoint has no cosignature:\n%s", latest)
	}
}
