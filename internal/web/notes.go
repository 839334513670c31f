package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
)

// noteTemplates are the headings a new note starts with, by type and
// language.
var noteTemplates = map[string]map[hush.NoteKind]string{
	"en": {
		hush.KindSOAP: "Subjective:\n\nObjective:\n\nAssessment:\n\nPlan:\n",
		hush.KindDAP:  "Data:\n\nAssessment:\n\nPlan:\n",
		hush.KindBIRP: "Behaviour:\n\nIntervention:\n\nResponse:\n\nPlan:\n",
		hush.KindFree: "",
	},
	"fi": {
		hush.KindSOAP: "Subjektiivinen:\n\nObjektiivinen:\n\nArvio:\n\nSuunnitelma:\n",
		hush.KindDAP:  "Tiedot:\n\nArvio:\n\nSuunnitelma:\n",
		hush.KindBIRP: "Käyttäytyminen:\n\nInterventio:\n\nVaste:\n\nSuunnitelma:\n",
		hush.KindFree: "",
	},
}

type noteForm struct {
	Patient hush.Patient
	Note    hush.Note
	Kinds   []hush.NoteKind
	Action  string // form action URL
	Amend   bool
	New     bool
}

var kinds = []hush.NoteKind{hush.KindSOAP, hush.KindDAP, hush.KindBIRP, hush.KindFree}

// clinicianPatient loads the patient of a page that only clinicians use (a
// new note, a questionnaire), answering the request itself when it can't.
func (s *Server) clinicianPatient(w http.ResponseWriter, r *http.Request, sess *session) (hush.Patient, bool) {
	p, err := s.c.Patient(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return p, false
	}
	if sess.actor.Role != hush.RoleClinician {
		s.error(w, r, http.StatusForbidden, "error.forbidden")
		return p, false
	}
	return p, true
}

func (s *Server) newNotePage(w http.ResponseWriter, r *http.Request, sess *session) {
	p, ok := s.clinicianPatient(w, r, sess)
	if !ok {
		return
	}
	kind, err := hush.ParseNoteKind(r.URL.Query().Get("kind"))
	if err != nil {
		kind = hush.KindSOAP
	}
	n := hush.Note{Kind: kind, Text: noteTemplates[lang(r)][kind]}
	s.render(w, r, http.StatusOK, "note", page{Title: "note.new", User: s.user(r, sess), Active: "patients", Scripts: autosaveJS,
		Data: noteForm{Patient: p, Note: n, Kinds: kinds, Action: "/patients/" + p.ID + "/notes", New: true}})
}

// noteInput reads the editor form: the button pressed says whether to save
// a draft, sign, or amend.
func noteInput(r *http.Request) (clinic.NoteInput, error) {
	kind, err := hush.ParseNoteKind(r.PostFormValue("kind"))
	if err != nil {
		return clinic.NoteInput{}, err
	}
	in := clinic.NoteInput{Kind: kind, Title: r.PostFormValue("title"), Text: r.PostFormValue("text")}
	switch r.PostFormValue("action") {
	case "draft":
		in.Status = hush.StatusDraft
	case "sign":
		in.Status = hush.StatusSigned
	case "amend":
		in.Status = hush.StatusAmended
	default:
		return in, hush.Errorf(hush.EINVALID, "choose save, sign or amend")
	}
	return in, nil
}

// readNoteForm reads the editor form, answering a bad one itself: an
// autosave (which may only save a draft) in JSON, a button's post with a
// page.
func (s *Server) readNoteForm(w http.ResponseWriter, r *http.Request) (clinic.NoteInput, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	in, err := noteInput(r)
	switch {
	case autosaving(r) && (err != nil || in.Status != hush.StatusDraft):
		s.jsonError(w, r, http.StatusBadRequest, "note.invalid")
		return in, false
	case err != nil:
		s.fail(w, r, err)
		return in, false
	}
	return in, true
}

func (s *Server) createNote(w http.ResponseWriter, r *http.Request, sess *session) {
	id := r.PathValue("id")
	in, ok := s.readNoteForm(w, r)
	if !ok {
		return
	}
	n, err := s.c.CreateNote(r.Context(), id, in)
	if autosaving(r) {
		s.autosaved(w, r, n, err)
		return
	}
	if err != nil {
		s.noteError(w, r, sess, id, in, err, "/patients/"+id+"/notes", false)
		return
	}
	http.Redirect(w, r, "/patients/"+id+"#note-"+n.ID, http.StatusSeeOther)
}

// noteError shows the editor again with the text kept, so nothing typed is
// lost when a save is refused.
func (s *Server) noteError(w http.ResponseWriter, r *http.Request, sess *session, pid string, in clinic.NoteInput, err error, action string, amend bool) {
	status, key := http.StatusBadRequest, "note.invalid"
	switch hush.ErrorCode(err) {
	case hush.EFORBIDDEN:
		s.error(w, r, http.StatusForbidden, "error.forbidden")
		return
	case hush.ECONFLICT:
		status, key = http.StatusConflict, "note.conflict"
	case hush.ETOOLARGE:
		status, key = http.StatusRequestEntityTooLarge, "note.toolarge"
	case hush.EINVALID:
	default:
		s.fail(w, r, err)
		return
	}
	p, perr := s.c.Patient(r.Context(), pid)
	if perr != nil {
		s.fail(w, r, perr)
		return
	}
	n := hush.Note{Kind: in.Kind, Title: in.Title, Text: in.Text, Version: atoi(r.PostFormValue("version"))}
	s.render(w, r, status, "note", page{Title: "note.edit", User: s.user(r, sess), Active: "patients", Error: key, Scripts: scriptsIf(!amend, autosaveJS...),
		Data: noteForm{Patient: p, Note: n, Kinds: kinds, Action: action, Amend: amend, New: action == "/patients/"+pid+"/notes"}})
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func (s *Server) editNotePage(w http.ResponseWriter, r *http.Request, sess *session) {
	n, err := s.c.Note(r.Context(), r.PathValue("id"), 0)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.c.Patient(r.Context(), n.PatientID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "note", page{Title: "note.edit", User: s.user(r, sess), Active: "patients", Scripts: scriptsIf(!n.Status.Locked(), autosaveJS...),
		Data: noteForm{Patient: p, Note: n, Kinds: kinds, Action: "/notes/" + n.ID, Amend: n.Status.Locked()}})
}

func (s *Server) updateNote(w http.ResponseWriter, r *http.Request, sess *session) {
	id := r.PathValue("id")
	in, ok := s.readNoteForm(w, r)
	if !ok {
		return
	}
	n, err := s.c.UpdateNote(r.Context(), id, atoi(r.PostFormValue("version")), in)
	if autosaving(r) {
		s.autosaved(w, r, n, err)
		return
	}
	if err != nil {
		cur, cerr := s.c.Note(r.Context(), id, 0)
		if cerr != nil {
			s.fail(w, r, cerr)
			return
		}
		s.noteError(w, r, sess, cur.PatientID, in, err, "/notes/"+id, cur.Status.Locked())
		return
	}
	http.Redirect(w, r, "/patients/"+n.PatientID+"#note-"+n.ID, http.StatusSeeOther)
}

func (s *Server) noteHistory(w http.ResponseWriter, r *http.Request, sess *session) {
	versions, err := s.c.NoteHistory(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.c.Patient(r.Context(), versions[0].PatientID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "history", page{Title: "note.history", User: s.user(r, sess), Active: "patients",
		Data: struct {
			Patient  hush.Patient
			Versions []hush.Note
		}{p, versions}})
}

// Draft autosave: static/autosave.js posts the editor form as it is, with
// action=draft and the Hush-Autosave header, a few seconds after typing
// stops. Each save is a new draft version like the button's; the script
// then points the form at the draft and its new version, so signing
// continues from it.
var autosaveJS = []string{"autosave.js"}

func autosaving(r *http.Request) bool { return r.Header.Get("Hush-Autosave") == "1" }

func (s *Server) autosaved(w http.ResponseWriter, r *http.Request, n hush.Note, err error) {
	if err != nil {
		switch hush.ErrorCode(err) {
		case hush.ECONFLICT:
			s.jsonError(w, r, http.StatusConflict, "note.autoconflict")
		case hush.ETOOLARGE:
			s.jsonError(w, r, http.StatusRequestEntityTooLarge, "note.toolarge")
		case hush.EFORBIDDEN:
			s.jsonError(w, r, http.StatusForbidden, "error.forbidden")
		case hush.EINVALID:
			s.jsonError(w, r, http.StatusBadRequest, "note.invalid")
		default:
			s.log.Error("autosave", "err", err)
			s.jsonError(w, r, http.StatusInternalServerError, "note.autofailed")
		}
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"action": "/notes/" + n.ID, "version": n.Version,
		"message": fmt.Sprintf(translate(lang(r), "note.autosaved"), s.now().In(clinic.Helsinki).Format("15:04"))})
}
