package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestDecodeStrictJSON: FHIR JSON names are case-sensitive and appear once
// per object, and the text is UTF-8; encoding/json alone would accept each
// of these, matching "Family" to family, keeping the last of two values
// and turning broken bytes into U+FFFD.
func TestDecodeStrictJSON(t *testing.T) {
	const ok = `{"resourceType":"Patient","name":[{"family":"Mäkinen","given":["Aino"]}]}`
	tests := []struct {
		name, body string
		want       error // nil: accepted
	}{
		{"valid", ok, nil},
		{"narrative is free-form", `{"resourceType":"Patient","text":{"Status":"x","div":"<div/>"},"name":[{"family":"A"}]}`, nil},
		{"duplicate top-level", `{"resourceType":"Patient","name":[{"family":"A"}],"name":[{"family":"B"}]}`, errDuplicate},
		{"duplicate nested", `{"resourceType":"Patient","name":[{"family":"A","family":"B"}]}`, errDuplicate},
		{"duplicate in narrative", `{"resourceType":"Patient","text":{"div":"a","div":"b"}}`, errDuplicate},
		{"wrong case top-level", `{"resourceType":"Patient","Name":[{"family":"A"}]}`, errFieldCase},
		{"wrong case nested", `{"resourceType":"Patient","name":[{"FAMILY":"A"}]}`, errFieldCase},
		{"wrong case of resourceType", `{"resourcetype":"Patient"}`, errFieldCase},
		{"two spellings of one name", `{"resourceType":"Patient","name":[{"family":"A","Family":"B"}]}`, errFieldCase},
		{"unknown field", `{"resourceType":"Patient","nickname":"A"}`, errUnknown},
		{"invalid UTF-8", "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"M\xe4kinen\"}]}", errNotUTF8},
		{"invalid UTF-8 in a name", "{\"resourceType\":\"Patient\",\"na\xffme\":[]}", errNotUTF8},
		{"lone surrogate escape", `{"resourceType":"Patient","name":[{"family":"M\ud800kinen"}]}`, errDamagedText},
		{"replacement character", `{"resourceType":"Patient","name":[{"family":"M` + "\uFFFD" + `kinen"}]}`, errDamagedText},
		{"surrogate pair is fine", `{"resourceType":"Patient","name":[{"family":"M\ud83d\ude00"}]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p patientResource
			err := decode(strings.NewReader(tt.body), "Patient", &p)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err != tt.want {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			checkSafeError(t, []byte(tt.body), err)
		})
	}
}

// TestDecodeStrictJSONOtherResources: the checks follow each resource's
// own fields.
func TestDecodeStrictJSONOtherResources(t *testing.T) {
	var d documentReference
	if err := decode(strings.NewReader(`{"resourceType":"DocumentReference","content":[{"attachment":{"Data":"aGk="}}]}`), "DocumentReference", &d); err != errFieldCase {
		t.Fatalf("DocumentReference with attachment.Data: %v", err)
	}
	var c careTeamResource
	if err := decode(strings.NewReader(`{"resourceType":"CareTeam","participant":[{"member":{"reference":"Practitioner/a","reference":"Practitioner/b"}}]}`), "CareTeam", &c); err != errDuplicate {
		t.Fatalf("CareTeam with a duplicate reference: %v", err)
	}
}

// FuzzCheckJSON: whatever checkJSON accepts for a Patient is UTF-8 with no
// U+FFFD, and decodes into the resource with every object name at the top
// level spelled exactly as a field; its refusals never quote the input.
func FuzzCheckJSON(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Patient","name":[{"family":"Mäkinen","given":["Aino"]}]}`))
	f.Add([]byte(`{"resourceType":"Patient","Name":[]}`))
	f.Add([]byte(`{"resourceType":"Patient","name":[],"name":[]}`))
	f.Add([]byte(`{"resourceType":"Patient","text":{"a":{"b":[{"c":1,"c":2}]}}}`))
	f.Add([]byte("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xc3\"}]}"))
	f.Add([]byte(`{"a":"\udc00"}`))
	fields := jsonFields(reflect.TypeFor[patientResource]())
	f.Fuzz(func(t *testing.T, data []byte) {
		err := checkJSON(data, reflect.TypeFor[*patientResource]())
		if err != nil {
			checkSafeError(t, data, err)
			return
		}
		if !utf8.Valid(data) || bytes.Contains(data, []byte("\uFFFD")) {
			t.Fatalf("accepted text that is not clean UTF-8")
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(data, &top) != nil {
			return // not an object: decode refuses it later
		}
		for k := range top {
			if _, ok := fields[k]; !ok {
				t.Fatalf("accepted an object name that is no field of Patient")
			}
		}
	})
}
