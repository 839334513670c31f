// Package api serves Hush's FHIR R4 JSON API under /fhir/R4 with bearer
// tokens.
//
// # Rules of this surface
//
// Requests authenticate with "Authorization: Bearer hush_…" only; there
// are no cookies, so cross-site requests carry no authority, and form posts
// are rejected (a body must be application/fhir+json or application/json).
// Bodies are capped at MaxBody. Errors are FHIR OperationOutcome resources
// whose text comes from hush.ErrorMessage: never an error's raw text, which
// could carry personal data. The access log records a random request id, the
// route pattern (never the URL, whose query may hold a name), the actor id,
// the status and the duration.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
)

// MaxBody is the largest request body accepted (1 MiB: a 256 KiB note is
// about 350 KiB in base64).
const MaxBody = 1 << 20

// Server is the API handler.
type Server struct {
	c   *clinic.Clinic
	log *slog.Logger
	mux *http.ServeMux
}

// New returns the API handler for c, logging to log.
func New(c *clinic.Clinic, log *slog.Logger) *Server {
	s := &Server{c: c, log: log, mux: http.NewServeMux()}
	s.routes()
	return s
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) routes() {
	const p = "/fhir/R4"
	s.mux.HandleFunc("GET "+p+"/metadata", s.public(s.metadata))
	s.handle("POST "+p+"/Patient", s.createPatient)
	s.handle("GET "+p+"/Patient/{id}", s.readPatient)
	s.handle("GET "+p+"/Patient", s.searchPatients)
	s.handle("GET "+p+"/Practitioner/{id}", s.readPractitioner)
	s.handle("GET "+p+"/Practitioner", s.searchPractitioners)
	s.handle("POST "+p+"/DocumentReference", s.createNote)
	s.handle("GET "+p+"/DocumentReference/{id}", s.readNote)
	s.handle("GET "+p+"/DocumentReference/{id}/_history/{vid}", s.readNoteVersion)
	s.handle("GET "+p+"/DocumentReference/{id}/_history", s.noteHistory)
	s.handle("PUT "+p+"/DocumentReference/{id}", s.updateNote)
	s.handle("GET "+p+"/DocumentReference", s.searchNotes)
	s.handle("POST "+p+"/CareTeam", s.createCareTeam)
	s.handle("PUT "+p+"/CareTeam/{id}", s.updateCareTeam)
	s.handle("GET "+p+"/CareTeam/{id}", s.readCareTeam)
	s.handle("GET "+p+"/CareTeam", s.searchCareTeam)
	s.handle("GET "+p+"/AuditEvent", s.searchAuditEvents)
	s.mux.HandleFunc(catchAll, s.public(s.noRoute))
}

// catchAll answers every other path under the API prefix.
const catchAll = "/fhir/"

// noRoute answers requests no route matched: 405 with Allow when the path
// exists under another method, 404 otherwise, both as OperationOutcome.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pattern := s.mux.Handler(r2); pattern != catchAll {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return &hush.Error{Code: errMethod, Message: "method not allowed here"}
	}
	return hush.Errorf(hush.ENOTFOUND, "no such endpoint")
}

// ServeHTTP implements http.Handler with the security headers every
// response carries. Every answer is the API's own, as OperationOutcome JSON:
// ServeMux's path-cleaning redirects and plain-text errors never reach a
// client (see Owns).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if clean := cleanPath(r.URL.Path); clean != r.URL.Path || !strings.HasPrefix(clean, catchAll) {
		s.serve(w, r, func(w http.ResponseWriter, r *http.Request) error { return moved(w, r, clean) }, false)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Owns reports whether a request path belongs to the API: /fhir or below
// once cleaned. The server routes on it, so that a path that only cleans to
// the API's (//fhir/R4/Patient, /fhir/../fhir/R4/Patient) is answered by
// the API too, not by a redirect in HTML.
func Owns(p string) bool {
	p = cleanPath(p)
	return p == strings.TrimSuffix(catchAll, "/") || strings.HasPrefix(p, catchAll)
}

// cleanPath is ServeMux's canonical form of a path: rooted, no . or ..
// elements, no repeated slashes, a trailing slash kept.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}

// moved answers a path that is not in its clean form. A GET or HEAD is sent
// to the clean path (301, Location, and an OperationOutcome saying so);
// other methods get a 404, as a client following a 301 would resend a POST
// or PUT as a GET without its body.
func moved(w http.ResponseWriter, r *http.Request, clean string) error {
	if !strings.HasPrefix(clean, catchAll) {
		return hush.Errorf(hush.ENOTFOUND, "no such endpoint")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return hush.Errorf(hush.ENOTFOUND, "no such endpoint: send the request to the path in its clean form, without repeated slashes or dot segments")
	}
	w.Header().Set("Location", (&url.URL{Path: clean, RawQuery: r.URL.RawQuery}).String())
	return writeJSON(w, http.StatusMovedPermanently, operationOutcome{
		ResourceType: "OperationOutcome",
		Issue:        []ooIssue{{Severity: "information", Code: "informational", Diagnostics: "moved to the path in its clean form, given in Location"}},
	})
}

type ctxKey int

const reqIDKey ctxKey = 0

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// public wraps a handler that needs no token.
func (s *Server) public(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, h, false) }
}

// handle registers a handler that needs a valid bearer token.
func (s *Server) handle(pattern string, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, h, true) })
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, h handlerFunc, auth bool) {
	start := time.Now()
	var idb [8]byte
	rand.Read(idb[:])
	reqID := hex.EncodeToString(idb[:])
	sw := &statusWriter{ResponseWriter: w}
	sw.Header().Set("X-Request-Id", reqID)
	ctx := context.WithValue(r.Context(), reqIDKey, reqID)
	client, _, _ := net.SplitHostPort(r.RemoteAddr)
	ctx = hush.WithRequest(ctx, hush.Request{ID: reqID, ClientAddr: client})
	actorID := ""
	err := func() error {
		if auth {
			scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				return hush.Errorf(hush.EUNAUTHORIZED, "send an API token as Authorization: Bearer")
			}
			a, err := s.c.Authenticate(ctx, strings.TrimSpace(tok))
			if err != nil {
				return err
			}
			actorID = a.UserID
			ctx = hush.WithActor(ctx, a)
		}
		if r.Method == http.MethodPost || r.Method == http.MethodPut {
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if mt != "application/fhir+json" && mt != "application/json" {
				return &hush.Error{Code: errUnsupported, Message: "send the body as application/fhir+json"}
			}
			r.Body = http.MaxBytesReader(sw, r.Body, MaxBody)
		}
		return h(sw, r.WithContext(ctx))
	}()
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		// The client's mistake, not the server's: a 413 that says the
		// limit, logged as a client error.
		err = hush.Errorf(hush.ETOOLARGE, "the request body is over the limit of %d bytes", MaxBody)
	}
	if err != nil {
		s.writeError(sw, err)
	}
	attrs := []any{"req", reqID, "method", r.Method, "route", r.Pattern, "status", sw.status, "ms", time.Since(start).Milliseconds()}
	if actorID != "" {
		attrs = append(attrs, "actor", actorID)
	}
	if err != nil {
		// Only the code and the safe message: wrapped detail may quote input.
		attrs = append(attrs, "code", hush.ErrorCode(err), "error", hush.ErrorMessage(err))
		if hush.ErrorCode(err) == hush.EINTERNAL {
			s.log.Error("request failed", append(attrs, "detail", detail(err))...)
			return
		}
	}
	s.log.Info("request", attrs...)
}

// detail is the operator-only text of an internal error. Internal errors come
// from storage and crypto, not from request content.
func detail(err error) string {
	var he *hush.Error
	if errors.As(err, &he) && he.Err != nil {
		return he.Err.Error()
	}
	return err.Error()
}

const (
	errUnsupported = "unsupported_media_type"
	errMethod      = "method_not_allowed"
)

var statusOf = map[string]int{
	hush.EINVALID:      http.StatusBadRequest,
	hush.ENOTFOUND:     http.StatusNotFound,
	hush.ECONFLICT:     http.StatusConflict,
	hush.EFORBIDDEN:    http.StatusForbidden,
	hush.EUNAUTHORIZED: http.StatusUnauthorized,
	hush.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	hush.EUNAVAILABLE:  http.StatusServiceUnavailable,
	errUnsupported:     http.StatusUnsupportedMediaType,
	errMethod:          http.StatusMethodNotAllowed,
}

// FHIR OperationOutcome issue codes.
var issueOf = map[string]string{
	hush.EINVALID:      "invalid",
	hush.ENOTFOUND:     "not-found",
	hush.ECONFLICT:     "conflict",
	hush.EFORBIDDEN:    "forbidden",
	hush.EUNAUTHORIZED: "login",
	hush.ETOOLARGE:     "too-long",
	hush.EUNAVAILABLE:  "transient",
	errUnsupported:     "not-supported",
	errMethod:          "not-supported",
}

func (s *Server) writeError(w http.ResponseWriter, err error) {
	code := hush.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	issue := issueOf[code]
	if issue == "" {
		issue = "exception"
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "2")
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hush"`)
	}
	writeJSON(w, status, operationOutcome{
		ResourceType: "OperationOutcome",
		Issue:        []ooIssue{{Severity: "error", Code: issue, Diagnostics: hush.ErrorMessage(err)}},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
