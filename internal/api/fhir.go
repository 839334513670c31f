package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hushepr/hush/internal/hetu"
	"github.com/hushepr/hush/internal/hush"
)

// NoteTypeSystem is the code system of Hush note types in
// DocumentReference.type.
const NoteTypeSystem = "urn:hush:note-type"

// GuardianSystem and GuardianCode mark a Patient.contact as a guardian.
const (
	GuardianSystem = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
	GuardianCode   = "GUARD"
)

type operationOutcome struct {
	ResourceType string    `json:"resourceType"`
	Issue        []ooIssue `json:"issue"`
}

type ooIssue struct {
	Severity    string `json:"severity"`
	Code        string `json:"code"`
	Diagnostics string `json:"diagnostics,omitempty"`
}

type meta struct {
	VersionID   string   `json:"versionId,omitempty"`
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Tag         []coding `json:"tag,omitempty"`
}

// subsetted marks a resource that carries only some of its elements
// (FHIR R4 3.1.0.3.6: the SUBSETTED tag).
var subsetted = coding{System: "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", Code: "SUBSETTED", Display: "subsetted"}

type reference struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type identifier struct {
	Use    string `json:"use,omitempty"`
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

type humanName struct {
	Use    string   `json:"use,omitempty"`
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
}

type contactPoint struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
	Use    string `json:"use,omitempty"`
}

type patientContact struct {
	Relationship []codeableConcept `json:"relationship,omitempty"`
	Name         *humanName        `json:"name,omitempty"`
	Telecom      []contactPoint    `json:"telecom,omitempty"`
}

// patientResource is FHIR R4 Patient, the elements Hush keeps.
type patientResource struct {
	ResourceType        string           `json:"resourceType"`
	ID                  string           `json:"id,omitempty"`
	Meta                *meta            `json:"meta,omitempty"`
	Text                json.RawMessage  `json:"text,omitempty"`
	Active              *bool            `json:"active,omitempty"`
	Identifier          []identifier     `json:"identifier,omitempty"`
	Name                []humanName      `json:"name,omitempty"`
	Telecom             []contactPoint   `json:"telecom,omitempty"`
	Gender              string           `json:"gender,omitempty"`
	BirthDate           string           `json:"birthDate,omitempty"`
	Contact             []patientContact `json:"contact,omitempty"`
	GeneralPractitioner []reference      `json:"generalPractitioner,omitempty"`
}

type practitionerResource struct {
	ResourceType  string          `json:"resourceType"`
	ID            string          `json:"id"`
	Active        bool            `json:"active"`
	Name          []humanName     `json:"name"`
	Telecom       []contactPoint  `json:"telecom,omitempty"`
	Qualification []qualification `json:"qualification,omitempty"`
}

type qualification struct {
	Code codeableConcept `json:"code"`
}

type attachment struct {
	ContentType string `json:"contentType,omitempty"`
	Data        string `json:"data,omitempty"` // base64Binary, decoded by Hush for a clear error
	Title       string `json:"title,omitempty"`
	Creation    string `json:"creation,omitempty"`
}

type docContent struct {
	Attachment attachment `json:"attachment"`
}

type relatesTo struct {
	Code   string    `json:"code"`
	Target reference `json:"target"`
}

// documentReference is FHIR R4 DocumentReference, carrying one note version.
type documentReference struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id,omitempty"`
	Meta         *meta             `json:"meta,omitempty"`
	Text         json.RawMessage   `json:"text,omitempty"`
	Status       string            `json:"status,omitempty"`
	DocStatus    string            `json:"docStatus,omitempty"`
	Type         *codeableConcept  `json:"type,omitempty"`
	Category     []codeableConcept `json:"category,omitempty"`
	Subject      *reference        `json:"subject,omitempty"`
	Date         string            `json:"date,omitempty"`
	Author       []reference       `json:"author,omitempty"`
	Description  string            `json:"description,omitempty"`
	RelatesTo    []relatesTo       `json:"relatesTo,omitempty"`
	Content      []docContent      `json:"content,omitempty"`
}

type careTeamParticipant struct {
	Role   []codeableConcept `json:"role,omitempty"`
	Member *reference        `json:"member,omitempty"`
}

type careTeamResource struct {
	ResourceType string                `json:"resourceType"`
	ID           string                `json:"id,omitempty"`
	Meta         *meta                 `json:"meta,omitempty"`
	Text         json.RawMessage       `json:"text,omitempty"`
	Status       string                `json:"status,omitempty"`
	Subject      *reference            `json:"subject,omitempty"`
	Participant  []careTeamParticipant `json:"participant,omitempty"`
}

type bundleEntry struct {
	FullURL  string `json:"fullUrl,omitempty"`
	Resource any    `json:"resource"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        int           `json:"total"`
	Link         []bundleLink  `json:"link,omitempty"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

var safeField = regexp.MustCompile(`^[A-Za-z_.\[\]0-9]{1,60}$`)

// decode reads one JSON resource of the given type. Its errors say what is
// wrong in terms of the schema (a field name, a byte offset), never by
// quoting the input.
//
// FHIR JSON is stricter than encoding/json, which would match a field name
// in any case, keep the last of two equal names and turn invalid UTF-8
// into U+FFFD: checkJSON refuses all three first (FHIR R4 2.6.2: names are
// case-sensitive, a name appears once in an object, the text is UTF-8).
func decode(r io.Reader, resourceType string, v any) error {
	body, err := io.ReadAll(r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return hush.Errorf(hush.EINVALID, "could not read the request body")
	}
	if err := checkJSON(body, reflect.TypeOf(v)); err != nil {
		return err
	}
	var probe struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return decodeError(err)
	}
	if probe.ResourceType != resourceType {
		return hush.Errorf(hush.EINVALID, "resourceType must be %s", resourceType)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return hush.Errorf(hush.EINVALID, "the body holds more than one JSON value")
	}
	return nil
}

var (
	errNotUTF8     = hush.Errorf(hush.EINVALID, "the body is not valid UTF-8")
	errDamagedText = hush.Errorf(hush.EINVALID, "a string holds U+FFFD or an unpaired surrogate escape: the text was damaged on its way")
	errDuplicate   = hush.Errorf(hush.EINVALID, "a JSON object has the same field name twice")
	errFieldCase   = hush.Errorf(hush.EINVALID, "field names are case-sensitive: a field's name differs from the resource's only in upper and lower case")
	errUnknown     = hush.Errorf(hush.EINVALID, "the body has an unknown field (one this resource does not have or Hush does not support)")
)

// checkJSON walks the tokens of body against the Go type t decodes it
// into: the body must be UTF-8, with no U+FFFD (an unpaired surrogate
// escape decodes to it), no object with a name twice, and, in objects
// that decode into a struct, only names that are exactly a field's. Where
// t does not say (json.RawMessage, a map), any name goes, once. A body
// that is not JSON at all passes, for decode's syntax error.
func checkJSON(body []byte, t reflect.Type) error {
	if !utf8.Valid(body) {
		return errNotUTF8
	}
	if !json.Valid(body) {
		return nil // the decoder says where the syntax breaks
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return walkJSON(dec, t)
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

func walkJSON(dec *json.Decoder, t reflect.Type) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType || (t != nil && t.Kind() == reflect.Interface) {
		t = nil // free-form: check names for duplicates only
	}
	tok, err := dec.Token()
	if err != nil {
		return decodeError(err)
	}
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = jsonFields(t)
		} else if t != nil && t.Kind() == reflect.Map {
			elem = t.Elem()
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return decodeError(err)
			}
			name, _ := tok.(string)
			if strings.ContainsRune(name, utf8.RuneError) {
				return errDamagedText
			}
			if seen[name] {
				return errDuplicate
			}
			seen[name] = true
			ft := elem
			if fields != nil {
				var ok bool
				if ft, ok = fields[name]; !ok {
					for f := range fields {
						if strings.EqualFold(f, name) {
							return errFieldCase
						}
					}
					return errUnknown
				}
			}
			if err := walkJSON(dec, ft); err != nil {
				return err
			}
		}
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := walkJSON(dec, elem); err != nil {
				return err
			}
		}
	case json.Delim('}'), json.Delim(']'):
		return hush.Errorf(hush.EINVALID, "the body is not valid JSON")
	default:
		if s, ok := tok.(string); ok && strings.ContainsRune(s, utf8.RuneError) {
			return errDamagedText
		}
		return nil
	}
	_, err = dec.Token() // the closing delimiter
	if err != nil {
		return decodeError(err)
	}
	return nil
}

var jsonFieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// jsonFields maps the JSON names of a struct's fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := jsonFieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		m[name] = f.Type
	}
	jsonFieldCache.Store(t, m)
	return m
}

func decodeError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return hush.Errorf(hush.EINVALID, "the body is not valid JSON (error at byte %d)", se.Offset)
	case errors.As(err, &te):
		if safeField.MatchString(te.Field) {
			return hush.Errorf(hush.EINVALID, "field %s must be a JSON %s", te.Field, jsonKind(te.Type.Kind().String()))
		}
		return hush.Errorf(hush.EINVALID, "a field has the wrong JSON type")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return hush.Errorf(hush.EINVALID, "the body is empty or cut short")
	}
	if strings.Contains(err.Error(), "unknown field") {
		// The field's name is the sender's text (it could be a name or an
		// identity code), so it is not repeated, not even to the sender:
		// messages also reach the server log.
		return hush.Errorf(hush.EINVALID, "the body has an unknown field (one this resource does not have or Hush does not support)")
	}
	return hush.Wrap(hush.EINVALID, "the body is not a valid resource", nil)
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	case "bool":
		return "boolean"
	case "int", "int64", "float64", "uint8":
		return "number"
	}
	return "value of another type"
}

func fhirTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// refID extracts the id from "Type/id" (or a bare id).
func refID(ref, typ string) (string, error) {
	id, ok := strings.CutPrefix(ref, typ+"/")
	if !ok || !validID(id) {
		return "", hush.Errorf(hush.EINVALID, "reference must be %s/<id>", typ)
	}
	return id, nil
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

func validID(id string) bool { return idPattern.MatchString(id) }

func toPatient(in patientResource) (hush.Patient, []string, error) {
	var p hush.Patient
	if len(in.Name) != 1 {
		return p, nil, hush.Errorf(hush.EINVALID, "a patient needs exactly one name")
	}
	p.Family, p.Given = in.Name[0].Family, in.Name[0].Given
	p.BirthDate, p.Gender = in.BirthDate, in.Gender
	for _, id := range in.Identifier {
		if id.System != hetu.System {
			return p, nil, hush.Errorf(hush.EINVALID, "identifier system must be %s (Finnish personal identity code)", hetu.System)
		}
		if p.HETU != "" {
			return p, nil, hush.Errorf(hush.EINVALID, "at most one identity code")
		}
		if id.Value == "" {
			return p, nil, hush.Errorf(hush.EINVALID, "identifier value is empty")
		}
		p.HETU = id.Value
	}
	p.Telecom = toContacts(in.Telecom)
	for _, c := range in.Contact {
		guardian := false
		for _, rel := range c.Relationship {
			for _, cd := range rel.Coding {
				if cd.System == GuardianSystem && cd.Code == GuardianCode {
					guardian = true
				}
			}
		}
		if !guardian {
			return p, nil, hush.Errorf(hush.EINVALID, "contact must be a guardian (relationship %s|%s)", GuardianSystem, GuardianCode)
		}
		if c.Name == nil {
			return p, nil, hush.Errorf(hush.EINVALID, "a guardian needs a name")
		}
		name := c.Name.Text
		if name == "" {
			name = strings.TrimSpace(strings.Join(append(append([]string{}, c.Name.Given...), c.Name.Family), " "))
		}
		p.Guardians = append(p.Guardians, hush.Guardian{Name: name, Relation: "guardian", Telecom: toContacts(c.Telecom)})
	}
	var clinicians []string
	for _, gp := range in.GeneralPractitioner {
		id, err := refID(gp.Reference, "Practitioner")
		if err != nil {
			return p, nil, err
		}
		clinicians = append(clinicians, id)
	}
	return p, clinicians, nil
}

func toContacts(in []contactPoint) []hush.ContactPoint {
	var out []hush.ContactPoint
	for _, t := range in {
		out = append(out, hush.ContactPoint{System: t.System, Value: t.Value, Use: t.Use})
	}
	return out
}

func fromContacts(in []hush.ContactPoint) []contactPoint {
	var out []contactPoint
	for _, t := range in {
		out = append(out, contactPoint{System: t.System, Value: t.Value, Use: t.Use})
	}
	return out
}

func fromPatient(p hush.Patient) patientResource {
	out := patientResource{
		ResourceType: "Patient",
		ID:           p.ID,
		Meta:         &meta{VersionID: "1", LastUpdated: fhirTime(p.CreatedAt)},
		Name:         []humanName{{Use: "official", Family: p.Family, Given: p.Given}},
		Telecom:      fromContacts(p.Telecom),
		Gender:       p.Gender,
		BirthDate:    p.BirthDate,
	}
	if p.HETU != "" {
		out.Identifier = []identifier{{Use: "official", System: hetu.System, Value: p.HETU}}
	}
	for _, g := range p.Guardians {
		out.Contact = append(out.Contact, patientContact{
			Relationship: []codeableConcept{{Coding: []coding{{System: GuardianSystem, Code: GuardianCode, Display: "guardian"}}}},
			Name:         &humanName{Text: g.Name},
			Telecom:      fromContacts(g.Telecom),
		})
	}
	return out
}

// listedPatient is a patient as a search lists it: id, name and birth date
// only. Contacts and the identity code are in the Patient itself, whose
// read is a counted, audited directory access (and trips on a canary): a
// listing is not a contact list, and shows nothing that tells a canary
// apart.
func listedPatient(p hush.Patient) patientResource {
	return patientResource{
		ResourceType: "Patient",
		ID:           p.ID,
		Meta:         &meta{Tag: []coding{subsetted}},
		Name:         []humanName{{Use: "official", Family: p.Family, Given: p.Given}},
		BirthDate:    p.BirthDate,
	}
}

func fromUser(u hush.User) practitionerResource {
	return practitionerResource{
		ResourceType:  "Practitioner",
		ID:            u.ID,
		Active:        u.Active,
		Name:          []humanName{{Text: u.Name}},
		Telecom:       []contactPoint{{System: "email", Value: u.Email, Use: "work"}},
		Qualification: []qualification{{Code: codeableConcept{Coding: []coding{{System: "urn:hush:role", Code: string(u.Role)}}, Text: string(u.Role)}}},
	}
}

func fromNote(n hush.Note) documentReference {
	d := documentReference{
		ResourceType: "DocumentReference",
		ID:           n.ID,
		Meta:         &meta{VersionID: fmt.Sprint(n.Version), LastUpdated: fhirTime(n.CreatedAt)},
		Status:       "current",
		DocStatus:    string(n.Status),
		Type:         &codeableConcept{Coding: []coding{{System: NoteTypeSystem, Code: string(n.Kind)}}, Text: string(n.Kind) + " note"},
		Subject:      &reference{Reference: "Patient/" + n.PatientID},
		Date:         fhirTime(n.CreatedAt),
		Author:       []reference{{Reference: "Practitioner/" + n.AuthorID}},
		Description:  n.Title,
		Content:      []docContent{{Attachment: attachment{ContentType: "text/plain; charset=utf-8", Data: base64.StdEncoding.EncodeToString([]byte(n.Text))}}},
	}
	if n.Version > 1 && n.Status == hush.StatusAmended {
		d.RelatesTo = []relatesTo{{Code: "replaces", Target: reference{Reference: fmt.Sprintf("DocumentReference/%s/_history/%d", n.ID, n.Version-1)}}}
	}
	return d
}

func searchset(base string, resources []any, ids []string) bundle {
	b := bundle{ResourceType: "Bundle", Type: "searchset", Total: len(resources)}
	for i, r := range resources {
		b.Entry = append(b.Entry, bundleEntry{FullURL: base + "/" + ids[i], Resource: r})
	}
	return b
}
