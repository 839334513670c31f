package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hushepr/hush/internal/store"
)

// counts returns the number of patients and note versions stored.
func (f *fixture) counts() (patients, notes int) {
	f.t.Helper()
	cl := f.open()
	defer cl.Close()
	cl.DB().Read(context.Background(), func(tx *store.Tx) error {
		ps, err := tx.PatientsAfter(0)
		if err != nil {
			return err
		}
		ns, err := tx.AllNotes()
		patients, notes = len(ps), len(ns)
		return err
	})
	return
}

// TestBadInput sends malformed and forbidden requests: each gets a clear 4xx
// OperationOutcome, changes nothing, and leaks no personal data in the
// response or the server log.
func TestBadInput(t *testing.T) {
	f := newFixture(t, "a@test.hush=clinician", "b@test.hush=clinician", "gone@test.hush=clinician")
	f.serve()
	p := f.must(201, f.do("a@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Heikkinen", "Venla", makeHETU(3, 3, 1995, 333), "+358 40 333 3333")))
	pid := p["id"].(string)
	n := f.must(201, f.do("a@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "signed text")))
	nid := n["id"].(string)
	// a token to revoke
	revoked := f.tokens["gone@test.hush"]
	tokID := strings.Split(strings.TrimPrefix(revoked, "hush_"), "_")[0]
	f.run("token", "revoke", "--id", tokID)

	const marker = "Leakmarker"
	big := strings.Repeat("x", 2<<20)
	badHETU := patientJSON(marker+"fam", marker+"given", "010190-"+"123X", "+358 1")
	tests := []struct {
		name, who, method, path string
		body                    any
		contentType             string
		want                    int
		wantText                string
	}{
		{"no token", "", "GET", "/fhir/R4/Patient/" + pid, nil, "", 401, "API token"},
		{"revoked token", "gone@test.hush", "GET", "/fhir/R4/Patient/" + pid, nil, "", 401, "revoked"},
		{"malformed JSON", "a@test.hush", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","name":[{"family":"` + marker, "", 400, "not valid JSON"},
		{"trailing garbage", "a@test.hush", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient"} {"` + marker + `":1}`, "", 400, "not valid JSON"},
		{"oversize body", "a@test.hush", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","name":[{"family":"` + big + `"}]}`, "", 413, "over"},
		{"wrong type", "a@test.hush", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","name":[{"family":"` + marker + `"}],"birthDate":19900101}`, "", 400, "birthDate"},
		{"wrong resourceType", "a@test.hush", "POST", "/fhir/R4/Patient", `{"resourceType":"Observation"}`, "", 400, "resourceType"},
		{"unknown field", "a@test.hush", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","nmae":[{"family":"` + marker + `"}]}`, "", 400, "unknown field"},
		{"invalid HETU", "a@test.hush", "POST", "/fhir/R4/Patient", badHETU, "", 400, "check character"},
		{"form post", "a@test.hush", "POST", "/fhir/R4/Patient", "name=" + marker, "application/x-www-form-urlencoded", 415, "fhir+json"},
		{"unknown patient", "a@test.hush", "GET", "/fhir/R4/Patient/0123456789abcdef0123456789abcdef", nil, "", 404, "not found"},
		{"malformed id", "a@test.hush", "GET", "/fhir/R4/Patient/" + marker + "%20x", nil, "", 400, "malformed id"},
		{"unknown note", "a@test.hush", "GET", "/fhir/R4/DocumentReference/0123456789abcdef0123456789abcdef", nil, "", 404, "not found"},
		{"note for unknown patient", "a@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON("0123456789abcdef0123456789abcdef", "SOAP", "final", marker), "", 404, "not found"},
		{"another clinician's patient", "b@test.hush", "GET", "/fhir/R4/DocumentReference/" + nid, nil, "", 403, "care team"},
		{"another clinician's chart", "b@test.hush", "GET", "/fhir/R4/DocumentReference?patient=" + pid, nil, "", 403, "care team"},
		{"signed note edited in place", "a@test.hush", "PUT", "/fhir/R4/DocumentReference/" + nid, noteJSON(pid, "SOAP", "final", marker), "", 409, "amend"},
		{"signed note back to draft", "a@test.hush", "PUT", "/fhir/R4/DocumentReference/" + nid, noteJSON(pid, "SOAP", "preliminary", marker), "", 409, "amend"},
		{"note type changed", "a@test.hush", "PUT", "/fhir/R4/DocumentReference/" + nid, noteJSON(pid, "DAP", "amended", marker), "", 400, "type"},
		{"stale If-Match", "a@test.hush", "PUT", "/fhir/R4/DocumentReference/" + nid, noteJSON(pid, "SOAP", "amended", marker), "", 409, "changed since"},
		{"bad docStatus", "a@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "entered-in-error", marker), "", 400, "docStatus"},
		{"bad note type", "a@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "Progress", "final", marker), "", 400, "SOAP"},
		{"bad base64", "a@test.hush", "POST", "/fhir/R4/DocumentReference", strings.Replace(mustJSON(noteJSON(pid, "SOAP", "final", "x")), `"data":"eA=="`, `"data":"`+marker+`!"`, 1), "", 400, "base64"},
		{"note too large", "a@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", strings.Repeat("y", 300<<10)), "", 413, "KiB"},
		{"search without terms", "a@test.hush", "GET", "/fhir/R4/Patient", nil, "", 400, "name or identifier"},
		{"unsupported search parameter", "a@test.hush", "GET", "/fhir/R4/Patient?family=" + marker, nil, "", 400, "unsupported"},
		{"bad identifier search", "a@test.hush", "GET", "/fhir/R4/Patient?identifier=" + marker, nil, "", 400, "identity code"},
		{"duplicate HETU", "a@test.hush", "POST", "/fhir/R4/Patient", patientJSON(marker, "X", makeHETU(3, 3, 1995, 333), "+358 40 333 3334"), "", 409, "already registered"},
		{"birth date mismatch", "a@test.hush", "POST", "/fhir/R4/Patient", withField(patientJSON(marker, "X", makeHETU(4, 3, 1995, 333), "+358 40 333 3334"), "birthDate", "1995-03-05"), "", 400, "does not match"},
		{"bad phone", "a@test.hush", "POST", "/fhir/R4/Patient", patientJSON(marker, "X", makeHETU(4, 3, 1995, 334), marker), "", 400, "phone"},
		{"care team empty", "a@test.hush", "PUT", "/fhir/R4/CareTeam/" + pid, map[string]any{"resourceType": "CareTeam", "subject": map[string]any{"reference": "Patient/" + pid}}, "", 400, "at least one"},
		{"care team unknown practitioner", "a@test.hush", "PUT", "/fhir/R4/CareTeam/" + pid, map[string]any{"resourceType": "CareTeam", "subject": map[string]any{"reference": "Patient/" + pid},
			"participant": []any{map[string]any{"member": map[string]any{"reference": "Practitioner/0123456789abcdef0123456789abcdef"}}}}, "", 400, "practitioner"},
		{"unknown route", "a@test.hush", "GET", "/fhir/R4/Observation", nil, "", 404, "no such endpoint"},
		{"wrong method", "a@test.hush", "DELETE", "/fhir/R4/Patient/" + pid, nil, "", 405, "not allowed"},
		{"patient and subject", "a@test.hush", "GET", "/fhir/R4/DocumentReference?patient=" + pid + "&subject=Patient/" + pid, nil, "", 400, "not both"},
	}
	beforeP, beforeN := f.counts()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.contentType != "" {
				hdr = []string{"Content-Type", tt.contentType}
			}
			if tt.name == "stale If-Match" {
				hdr = []string{"If-Match", `W/"7"`}
			}
			r := f.do(tt.who, tt.method, tt.path, tt.body, hdr...)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
			d := r.diagnostics()
			if d == "" {
				t.Fatalf("no OperationOutcome: %s", r.body)
			}
			if !strings.Contains(d, tt.wantText) {
				t.Errorf("diagnostics %q does not say %q", d, tt.wantText)
			}
			if strings.Contains(strings.ToLower(string(r.body)), strings.ToLower(marker)) {
				t.Errorf("response echoes input: %s", r.body)
			}
		})
	}
	afterP, afterN := f.counts()
	if afterP != beforeP || afterN != beforeN {
		t.Errorf("state changed: patients %d -> %d, notes %d -> %d", beforeP, afterP, beforeN, afterN)
	}
	f.shutdown()
	log, err := os.ReadFile(filepath.Join(f.data, "log", "hush.log"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(string(log)), strings.ToLower(marker)) {
		t.Errorf("server log holds input")
	}
	if !strings.Contains(string(log), `"status":403`) {
		t.Errorf("server log lacks request lines")
	}
}

func withField(m map[string]any, k string, v any) map[string]any { m[k] = v; return m }

// TestBearerSchemeIsCaseInsensitive (RFC 7235: auth schemes are
// case-insensitive) and 405 carries Allow.
func TestBearerSchemeAndAllow(t *testing.T) {
	f := newFixture(t)
	f.serve()
	r := f.do("", "GET", "/fhir/R4/Practitioner?name=admin", nil, "Authorization", "bearer "+f.tokens["admin@test.hush"])
	if r.status != 200 {
		t.Fatalf("lower-case bearer: %d %s", r.status, r.body)
	}
	r = f.do("admin@test.hush", "DELETE", "/fhir/R4/DocumentReference/abc", nil)
	if r.status != 405 || r.header.Get("Allow") != "GET, PUT" {
		t.Fatalf("405: %d Allow %q", r.status, r.header.Get("Allow"))
	}
	m := f.must(200, f.do("", "GET", "/fhir/R4/metadata", nil))
	if m["resourceType"] != "CapabilityStatement" || m["fhirVersion"] != "4.0.1" {
		t.Fatalf("metadata: %v", m)
	}
	for _, h := range []string{"Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options", "Cache-Control"} {
		if r.header.Get(h) == "" {
			t.Errorf("missing header %s", h)
		}
	}
}
