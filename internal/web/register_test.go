package web_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestRegisterFormText: the registration form refuses names that are not
// UTF-8 or that hold a bidirectional override, stores names in NFC (a
// decomposed "Mäkinen" is found by the precomposed spelling), and lets
// reception register a patient before a clinician is named.
func TestRegisterFormText(t *testing.T) {
	e := newEnv(t)
	desk := e.browser()
	desk.signIn("desk@x.fi")
	if p := desk.get("/patients/new"); p.status != 200 || strings.Contains(p.body, `name="clinician" required`) {
		t.Fatalf("reception's form requires a clinician: %d", p.status)
	}
	form := url.Values{"family": {"M\xe4kinen"}, "given": {"Aino"}, "birthDate": {"1980-04-05"}}
	if p := desk.post("/patients", form); p.status != 400 || !strings.Contains(p.body, "family name must be") {
		t.Fatalf("a family name that is not UTF-8: %d", p.status)
	}
	form.Set("family", "Mäki\u202Enen")
	if p := desk.post("/patients", form); p.status != 400 || !strings.Contains(p.body, "bidirectional") {
		t.Fatalf("a family name with an override: %d", p.status)
	}
	form.Set("family", "Ma\u0308kinen") // a and a combining diaeresis
	p := desk.post("/patients", form)
	if p.status != 200 || !strings.Contains(p.body, "<h1>Mäkinen, Aino</h1>") {
		t.Fatalf("a decomposed name, no clinician yet: %d %s", p.status, p.body)
	}
	if p := desk.get("/patients?q=" + url.QueryEscape("Mäkinen")); !strings.Contains(p.body, "Mäkinen") {
		t.Fatal("the precomposed spelling does not find the decomposed one")
	}
}

// TestSearchBoxRefusesBrokenText: a search that is not UTF-8 is refused
// with the rule, not matched with U+FFFD and not a server error.
func TestSearchBoxRefusesBrokenText(t *testing.T) {
	e := newEnv(t)
	desk := e.browser()
	desk.signIn("desk@x.fi")
	if p := desk.get("/patients?q=M%E4ki"); p.status != 400 || !strings.Contains(p.body, "plain UTF-8") {
		t.Fatalf("search that is not UTF-8: %d %s", p.status, p.body)
	}
}
