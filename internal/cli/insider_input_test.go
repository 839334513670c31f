package cli_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestInsiderFHIRInput: a client sends Patient resources that
// encoding/json alone would take and store other than they read: a name
// given twice (last wins), a field in another case ("Name" taken as
// name), broken UTF-8 and an unpaired surrogate (stored as U+FFFD), and a
// right-to-left override in a name (displayed reversed). Each is refused
// with an OperationOutcome that names the rule. A name typed with a
// combining diaeresis is stored in NFC and found by either spelling.
func TestInsiderFHIRInput(t *testing.T) {
	f := newFixture(t, "desk@test.hush=reception")
	f.serve()
	post := func(body string) response {
		return f.do("desk@test.hush", "POST", "/fhir/R4/Patient", body)
	}
	for _, tt := range []struct{ name, body, want string }{
		{"duplicate name", `{"resourceType":"Patient","name":[{"family":"Aalto","family":"Berg"}],"birthDate":"1980-01-01"}`, "same field name twice"},
		{"duplicate top-level", `{"resourceType":"Patient","name":[{"family":"Aalto"}],"name":[{"family":"Berg"}],"birthDate":"1980-01-01"}`, "same field name twice"},
		{"wrong case", `{"resourceType":"Patient","Name":[{"family":"Aalto"}],"birthDate":"1980-01-01"}`, "case-sensitive"},
		{"wrong case nested", `{"resourceType":"Patient","name":[{"Family":"Aalto"}],"birthDate":"1980-01-01"}`, "case-sensitive"},
		{"invalid UTF-8", "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"M\xe4kinen\"}],\"birthDate\":\"1980-01-01\"}", "not valid UTF-8"},
		{"unpaired surrogate", `{"resourceType":"Patient","name":[{"family":"M\udc00kinen"}],"birthDate":"1980-01-01"}`, "unpaired surrogate"},
		{"right-to-left override", `{"resourceType":"Patient","name":[{"family":"Aalto\u202E"}],"birthDate":"1980-01-01"}`, "bidirectional"},
		{"isolate", `{"resourceType":"Patient","name":[{"family":"Aalto","given":["\u2067Aino"]}],"birthDate":"1980-01-01"}`, "bidirectional"},
	} {
		r := post(tt.body)
		if r.status != 400 || !strings.Contains(r.diagnostics(), tt.want) {
			t.Errorf("%s: %d %q, want 400 saying %q", tt.name, r.status, r.diagnostics(), tt.want)
		}
	}
	// Nothing of those was stored.
	if r := f.do("desk@test.hush", "GET", "/fhir/R4/Patient?name=Aalto", nil); r.json()["total"] != float64(0) {
		t.Fatalf("a refused resource was stored: %s", r.body)
	}

	// NFC: decomposed in, precomposed out; either spelling finds it.
	p := f.must(201, post(`{"resourceType":"Patient","name":[{"family":"Ma\u0308kinen","given":["Aino"]}],"birthDate":"1980-01-01"}`))
	if got := p["name"].([]any)[0].(map[string]any)["family"]; got != "M\u00e4kinen" {
		t.Fatalf("stored family %q, want it in NFC", got)
	}
	for _, q := range []string{"M\u00e4kinen", "Ma\u0308kinen", "m\u00e4ki"} {
		r := f.do("desk@test.hush", "GET", "/fhir/R4/Patient?name="+url.QueryEscape(q), nil)
		if r.status != 200 || r.json()["total"] != float64(1) {
			t.Errorf("search %+q: %d %s", q, r.status, r.body)
		}
	}
	// A search that is not UTF-8 is refused, not matched with U+FFFD.
	if r := f.do("desk@test.hush", "GET", "/fhir/R4/Patient?name=M%E4ki", nil); r.status != 400 {
		t.Errorf("a search that is not UTF-8: %d", r.status)
	}
}
