package clinic

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/measures"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// ItemMeta is what the store keeps in clear about a clinical item.
type ItemMeta struct {
	ID        string    `json:"-"`
	PatientID string    `json:"-"`
	AuthorID  string    `json:"-"`
	CreatedAt time.Time `json:"-"`
}

func metaOf(r store.ItemRow) ItemMeta {
	return ItemMeta{ID: r.ID, PatientID: r.PatientID, AuthorID: r.AuthorID, CreatedAt: time.UnixMilli(r.CreatedAt).UTC()}
}

// Measure is a scored questionnaire. Answers and scores are clinical
// content, sealed like notes.
type Measure struct {
	ItemMeta
	Instrument measures.Instrument `json:"instrument"`
	Answers    []int               `json:"answers"`
	Result     measures.Result     `json:"result"`
}

// Diagnosis is an ICD-10 diagnosis, set or resolved.
type Diagnosis struct {
	ItemMeta
	Code     string `json:"code"`
	Text     string `json:"text"`
	Resolved bool   `json:"resolved"`
}

func itemAD(r store.ItemRow) []byte {
	return seal.AD("hush clinical item v1", r.PatientID, r.ID, strconv.Itoa(r.Epoch), r.Kind, r.AuthorID, strconv.FormatInt(r.CreatedAt, 10))
}

// addItem seals body under the record's current epoch and stores it, with
// its audit event, in one transaction.
func (c *Clinic) addItem(ctx context.Context, patientID, kind, action string, body any) (store.ItemRow, error) {
	a, err := actor(ctx)
	if err != nil {
		return store.ItemRow{}, err
	}
	var row store.ItemRow
	err = c.db.ReadWrite(ctx, func(tx *store.Tx) error {
		if err := c.clinician(tx, a, patientID); err != nil {
			return err
		}
		epoch, err := c.currentEpoch(tx, patientID)
		if err != nil {
			return err
		}
		s, err := c.seed(tx, a, patientID, epoch)
		if err != nil {
			return err
		}
		defer s.Wipe()
		row = store.ItemRow{ID: newID(), PatientID: patientID, Epoch: epoch, Kind: kind, AuthorID: a.UserID, CreatedAt: c.millis()}
		b, _ := json.Marshal(body)
		k := s.ContentKey()
		row.Body = k.Seal(b, itemAD(row))
		k.Wipe()
		clear(b)
		if err := tx.InsertItem(row); err != nil {
			return err
		}
		if err := c.contentAdded(tx, patientID); err != nil {
			return err
		}
		_, err = c.audit.AppendTx(tx, c.event(ctx, action, patientID, kind+"/"+row.ID, nil))
		return err
	})
	return row, c.logDenied(ctx, err, c.event(ctx, action, patientID, "", err))
}

// setMeta is implemented by every clinical item (through ItemMeta).
func (m *ItemMeta) setMeta(v ItemMeta) { *m = v }

// itemPtr is a pointer to a clinical item type.
type itemPtr[T any] interface {
	*T
	setMeta(ItemMeta)
}

// txItems opens and decodes a patient's items of one kind inside a read
// transaction, with the actor's own grant.
func txItems[T any, P itemPtr[T]](c *Clinic, tx *store.Tx, a *hush.Actor, patientID, kind string) ([]T, error) {
	rows, err := tx.Items(patientID, kind)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(rows))
	for _, r := range rows {
		s, err := c.seed(tx, a, r.PatientID, r.Epoch)
		if err != nil {
			return nil, err
		}
		k := s.ContentKey()
		s.Wipe()
		b, err := k.Open(r.Body, itemAD(r))
		k.Wipe()
		if err != nil {
			return nil, hush.Wrap(hush.EINTERNAL, "a clinical item does not open: it was altered or moved", err)
		}
		var v T
		err = json.Unmarshal(b, &v)
		clear(b)
		if err != nil {
			return nil, internal("decode "+kind, err)
		}
		P(&v).setMeta(metaOf(r))
		out = append(out, v)
	}
	return out, nil
}

// readItems reads a patient's items of one kind for a care-team clinician,
// audited as one read.
func readItems[T any, P itemPtr[T]](ctx context.Context, c *Clinic, patientID, kind, action string) ([]T, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var out []T
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		if err := c.clinician(tx, a, patientID); err != nil {
			return err
		}
		out, err = txItems[T, P](c, tx, a, patientID, kind)
		return err
	})
	if err := c.logRead(ctx, err, c.event(ctx, action, patientID, "", err)); err != nil {
		return nil, err
	}
	return out, nil
}

// AddMeasure scores a questionnaire and stores it in the record.
func (c *Clinic) AddMeasure(ctx context.Context, patientID string, in measures.Instrument, answers []int) (Measure, error) {
	res, err := measures.Score(in, answers)
	if err != nil {
		return Measure{}, hush.Wrap(hush.EINVALID, err.Error(), nil)
	}
	m := Measure{Instrument: in, Answers: answers, Result: res}
	row, err := c.addItem(ctx, patientID, "measure", audit.ActMeasureAdd, m)
	if err != nil {
		return Measure{}, err
	}
	m.ItemMeta = metaOf(row)
	return m, nil
}

// Measures returns a patient's questionnaire results, oldest first.
func (c *Clinic) Measures(ctx context.Context, patientID string) ([]Measure, error) {
	return readItems[Measure](ctx, c, patientID, "measure", audit.ActMeasureRead)
}

// icd10 is the shape of an ICD-10 code: a letter, two digits, and an
// optional subdivision (F32, F32.1, F43.10).
var icd10 = regexp.MustCompile(`^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$`)

// AddDiagnosis sets (or, with resolved, resolves) an ICD-10 diagnosis.
func (c *Clinic) AddDiagnosis(ctx context.Context, patientID, code, text string, resolved bool) (Diagnosis, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if !icd10.MatchString(code) {
		return Diagnosis{}, hush.Errorf(hush.EINVALID, "an ICD-10 code is a letter and two digits, optionally a dot and more (F32.1)")
	}
	text = strings.TrimSpace(text)
	if utf8.RuneCountInString(text) > 300 || !utf8.ValidString(text) {
		return Diagnosis{}, hush.Errorf(hush.EINVALID, "the diagnosis text is at most 300 characters")
	}
	d := Diagnosis{Code: code, Text: text, Resolved: resolved}
	row, err := c.addItem(ctx, patientID, "diagnosis", audit.ActDiagnosisAdd, d)
	if err != nil {
		return Diagnosis{}, err
	}
	d.ItemMeta = metaOf(row)
	return d, nil
}

// Diagnoses returns the current diagnoses of a patient (the newest entry
// per code, unless it resolved the code), oldest first.
func (c *Clinic) Diagnoses(ctx context.Context, patientID string) ([]Diagnosis, error) {
	all, err := readItems[Diagnosis](ctx, c, patientID, "diagnosis", audit.ActDiagnosisRead)
	if err != nil {
		return nil, err
	}
	return currentDiagnoses(all), nil
}

// ChartView is everything a chart page shows, read in one transaction and
// audited as one access: the directory entry and care team for every staff
// role, and for a care-team clinician the notes, diagnoses and measures.
type ChartView struct {
	Patient   hush.Patient
	Team      []string
	Clinical  bool
	Notes     []hush.Note
	Diagnoses []Diagnosis
	Measures  []Measure
}

// ChartView returns the chart of a patient as its actor may see it.
func (c *Clinic) ChartView(ctx context.Context, patientID string) (ChartView, error) {
	a, err := staff(ctx)
	if err != nil {
		return ChartView{}, err
	}
	var v ChartView
	v.Patient, err = c.patient(ctx, a, patientID)
	if err != nil {
		return ChartView{}, c.logRead(ctx, err, c.event(ctx, audit.ActPatientRead, patientID, "", err))
	}
	action := audit.ActPatientRead
	err = c.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		if v.Team, err = tx.CareTeam(patientID); err != nil {
			return err
		}
		if a.Role != hush.RoleClinician {
			return nil
		}
		action = audit.ActChartRead
		if err := c.clinician(tx, a, patientID); err != nil {
			return err
		}
		v.Clinical = true
		if v.Notes, err = c.chartNotes(tx, a, patientID); err != nil {
			return err
		}
		all, err := txItems[Diagnosis](c, tx, a, patientID, "diagnosis")
		if err != nil {
			return err
		}
		v.Diagnoses = currentDiagnoses(all)
		v.Measures, err = txItems[Measure](c, tx, a, patientID, "measure")
		return err
	})
	if err := c.logRead(ctx, err, c.event(ctx, action, patientID, "", err)); err != nil {
		return ChartView{}, err
	}
	return v, nil
}

// currentDiagnoses keeps the newest entry per code unless it resolved it.
func currentDiagnoses(all []Diagnosis) []Diagnosis {
	latest := map[string]int{}
	for i, d := range all {
		latest[d.Code] = i
	}
	var out []Diagnosis
	for i, d := range all {
		if latest[d.Code] == i && !d.Resolved {
			out = append(out, d)
		}
	}
	return out
}
