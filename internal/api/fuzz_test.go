package api

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
)

var digitRun = regexp.MustCompile(`[0-9]{6,}`)

// checkSafeError asserts that a decoding error is a domain error whose text
// does not quote the input.
func checkSafeError(t *testing.T, data []byte, err error) {
	t.Helper()
	var he *hush.Error
	if !errors.As(err, &he) {
		t.Fatalf("error %v is not a *hush.Error", err)
	}
	if he.Code != hush.EINVALID && he.Code != hush.ETOOLARGE {
		t.Fatalf("decoding error has code %s", he.Code)
	}
	msg := he.Message
	if len(data) >= 6 && strings.Contains(msg, string(data)) {
		t.Fatalf("error quotes the input: %q", msg)
	}
	for _, run := range digitRun.FindAllString(string(data), -1) {
		if strings.Contains(msg, run) {
			t.Fatalf("error quotes a digit run of the input: %q", msg)
		}
	}
}

func FuzzDecodePatient(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Patient","name":[{"family":"Virtanen","given":["Aino"]}],"identifier":[{"system":"urn:oid:1.2.246.21","value":"131052-308T"}]}`))
	f.Add([]byte(`{"resourceType":"Patient","birthDate":19900101}`))
	f.Add([]byte(`{"resourceType":"Patient","contact":[{"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"GUARD"}]}],"name":{"text":"P"}}]}`))
	f.Add([]byte(`{"resourceType":"Patient","generalPractitioner":[{"reference":"Practitioner/abc"}]}`))
	f.Add([]byte(`[1,2,3]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p patientResource
		if err := decode(bytes.NewReader(data), "Patient", &p); err != nil {
			checkSafeError(t, data, err)
			return
		}
		if _, _, err := toPatient(p); err != nil {
			checkSafeError(t, data, err)
		}
	})
}

func FuzzDecodeDocumentReference(f *testing.F) {
	f.Add([]byte(`{"resourceType":"DocumentReference","status":"current","docStatus":"final","type":{"coding":[{"system":"urn:hush:note-type","code":"SOAP"}]},"subject":{"reference":"Patient/p1"},"content":[{"attachment":{"contentType":"text/plain; charset=utf-8","data":"aGVsbG8="}}]}`))
	f.Add([]byte(`{"resourceType":"DocumentReference","content":[{"attachment":{"data":"!!!"}}]}`))
	f.Add([]byte(`{"resourceType":"DocumentReference","docStatus":7}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d documentReference
		if err := decode(bytes.NewReader(data), "DocumentReference", &d); err != nil {
			checkSafeError(t, data, err)
			return
		}
		if _, err := noteInput(d); err != nil {
			checkSafeError(t, data, err)
		}
		if d.Subject != nil {
			if _, err := refID(d.Subject.Reference, "Patient"); err != nil {
				checkSafeError(t, data, err)
			}
		}
	})
}

func FuzzDecodeCareTeam(f *testing.F) {
	f.Add([]byte(`{"resourceType":"CareTeam","subject":{"reference":"Patient/p1"},"participant":[{"member":{"reference":"Practitioner/u1"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c careTeamResource
		if err := decode(bytes.NewReader(data), "CareTeam", &c); err != nil {
			checkSafeError(t, data, err)
		}
	})
}

func FuzzAuditDate(f *testing.F) {
	for _, s := range []string{"2026-11-26", "ge2026-01-01", "lt2026-11-26T10:00:00Z", "xx2026", "", "eq"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var q clinic.AuditQuery
		if err := parseDate(s, &q); err != nil {
			checkSafeError(t, []byte(s), err)
		}
	})
}
