package web

import (
	"html/template"
	"net/http"
	"strconv"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/measures"
)

type measureForm struct {
	Patient    hush.Patient
	Instrument measures.Instrument
	Stem       string
	Items      []string
	Options    []string
}

func (s *Server) newMeasurePage(w http.ResponseWriter, r *http.Request, sess *session) {
	p, ok := s.clinicianPatient(w, r, sess)
	if !ok {
		return
	}
	in, err := measures.ParseInstrument(r.URL.Query().Get("instrument"))
	if err != nil {
		in = measures.PHQ9
	}
	stem, items, options, err := measures.Items(in, lang(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "measure", page{Title: "measure.title", User: s.user(r, sess), Active: "patients",
		Data: measureForm{Patient: p, Instrument: in, Stem: stem, Items: items, Options: options}})
}

func (s *Server) addMeasure(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	id := r.PathValue("id")
	in, err := measures.ParseInstrument(r.PostFormValue("instrument"))
	if err != nil {
		s.error(w, r, http.StatusBadRequest, "error.other")
		return
	}
	_, items, _, _ := measures.Items(in, "en")
	answers := make([]int, len(items))
	for i := range answers {
		v, err := strconv.Atoi(r.PostFormValue("q" + strconv.Itoa(i+1)))
		if err != nil {
			v = -1 // unanswered: Score refuses it
		}
		answers[i] = v
	}
	if _, err := s.c.AddMeasure(r.Context(), id, in, answers); err != nil {
		if hush.ErrorCode(err) == hush.EINVALID {
			p, _ := s.c.Patient(r.Context(), id)
			stem, items, options, _ := measures.Items(in, lang(r))
			s.render(w, r, http.StatusBadRequest, "measure", page{Title: "measure.title", User: s.user(r, sess), Active: "patients", Error: "measure.incomplete",
				Data: measureForm{Patient: p, Instrument: in, Stem: stem, Items: items, Options: options}})
			return
		}
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/patients/"+id+"#measures", http.StatusSeeOther)
}

func (s *Server) addDiagnosis(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	id := r.PathValue("id")
	_, err := s.c.AddDiagnosis(r.Context(), id, r.PostFormValue("code"), r.PostFormValue("text"), r.PostFormValue("action") == "resolve")
	if err != nil {
		if hush.ErrorCode(err) == hush.EINVALID {
			http.Redirect(w, r, "/patients/"+id+"?dx=invalid#diagnoses", http.StatusSeeOther)
			return
		}
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/patients/"+id+"#diagnoses", http.StatusSeeOther)
}

// measureSummary is the chart's view of one instrument: its latest result
// and its trend.
type measureSummary struct {
	Instrument measures.Instrument
	Latest     clinic.Measure
	Severity   string
	Trend      template.HTML
	Count      int
}

func (s *Server) measureSummaries(r *http.Request, ms []clinic.Measure) []measureSummary {
	var out []measureSummary
	for _, in := range []measures.Instrument{measures.PHQ9, measures.GAD7} {
		var pts []measures.Point
		var latest *clinic.Measure
		for i := range ms {
			if ms[i].Instrument == in {
				pts = append(pts, measures.Point{Time: ms[i].CreatedAt, Total: ms[i].Result.Total})
				latest = &ms[i]
			}
		}
		if latest == nil {
			continue
		}
		svg, err := measures.TrendSVG(in, pts, lang(r))
		if err != nil {
			continue
		}
		out = append(out, measureSummary{Instrument: in, Latest: *latest, Severity: measures.SeverityLabel(latest.Result.Severity, lang(r)),
			Trend: template.HTML(svg), Count: len(pts)}) // TrendSVG escapes every text it writes
	}
	return out
}

func (s *Server) addProcessNote(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	id := r.PathValue("id")
	if _, err := s.c.AddProcessNote(r.Context(), id, r.PostFormValue("text")); err != nil {
		if hush.ErrorCode(err) == hush.EINVALID {
			http.Redirect(w, r, "/patients/"+id+"#process", http.StatusSeeOther)
			return
		}
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/patients/"+id+"#process", http.StatusSeeOther)
}
