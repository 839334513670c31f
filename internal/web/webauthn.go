package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
)

// Security keys and passkeys (WebAuthn) as a second factor, beside the
// mandatory TOTP. The browser side is static/webauthn.js, served as a
// file so the CSP allows scripts from 'self' only; every page still works
// without it (the TOTP form is always there).
//
// The relying party is the origin users type (EnableWebAuthn): the
// browser binds each signature to it, so a look-alike site cannot relay a
// sign-in.

// EnableWebAuthn turns on security keys for the app served at origin
// (for example https://hush.clinic.fi). Without it the pages offer TOTP
// only.
func (s *Server) EnableWebAuthn(origin string) error {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return fmt.Errorf("webauthn origin: want https://host[:port], got %q", origin)
	}
	// Challenges expire on the server too, not only in the browser.
	limit := webauthn.TimeoutConfig{Enforce: true, Timeout: 2 * time.Minute, TimeoutUVD: 2 * time.Minute}
	w, err := webauthn.New(&webauthn.Config{RPID: u.Hostname(), RPDisplayName: "Hush " + s.c.Name(),
		RPOrigins: []string{u.Scheme + "://" + u.Host}, Timeouts: webauthn.TimeoutsConfig{Login: limit, Registration: limit}})
	if err != nil {
		return fmt.Errorf("webauthn: %w", err)
	}
	s.wa = w
	return nil
}

// waUser is a Hush account as go-webauthn sees it. The user handle is the
// account's random id: it names no one.
type waUser struct {
	id, email, name string
	keys            []clinic.SecurityKey
	creds           []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return []byte(u.id) }
func (u *waUser) WebAuthnName() string                       { return u.email }
func (u *waUser) WebAuthnDisplayName() string                { return u.name }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// waUserOf loads a user's registered keys.
func (s *Server) waUserOf(r *http.Request, userID, email, name string) (*waUser, error) {
	keys, err := s.c.SecurityKeys(r.Context(), userID)
	if err != nil {
		return nil, err
	}
	u := &waUser{id: userID, email: email, name: name, keys: keys}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Data, &c); err != nil {
			return nil, hush.Wrap(hush.EINTERNAL, "a security key does not decode", err)
		}
		u.creds = append(u.creds, c)
	}
	return u, nil
}

// waMe is the session's own account with its keys.
func (s *Server) waMe(r *http.Request, sess *session) (*waUser, error) {
	return s.waUserOf(r, sess.actor.UserID, sess.email, s.user(r, sess).Name)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// jsonError answers a script with a catalog message (never input).
func (s *Server) jsonError(w http.ResponseWriter, r *http.Request, status int, key string) {
	writeJSON(w, status, map[string]string{"error": translate(lang(r), key)})
}

// readJSON reads a bounded JSON body.
func readJSON(w http.ResponseWriter, r *http.Request, max int64) ([]byte, bool) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	return b, err == nil
}

// --- the account's security keys page

type keysPage struct {
	Enabled bool
	Keys    []keyRow
	Max     int
}

type keyRow struct {
	ID, Name, Added string
}

func (s *Server) keysPage(w http.ResponseWriter, r *http.Request, sess *session) {
	keys, err := s.c.SecurityKeys(r.Context(), sess.actor.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := keysPage{Enabled: s.wa != nil, Max: clinic.MaxSecurityKeys}
	for _, k := range keys {
		d.Keys = append(d.Keys, keyRow{ID: base64.RawURLEncoding.EncodeToString(k.ID), Name: k.Name, Added: k.CreatedAt.In(clinic.Helsinki).Format("2006-01-02")})
	}
	s.render(w, r, http.StatusOK, "keys", page{Title: "keys.title", User: s.user(r, sess), Data: d, Active: "keys", Scripts: scriptsIf(d.Enabled, "webauthn.js")})
}

func (s *Server) keysBegin(w http.ResponseWriter, r *http.Request, sess *session) {
	if s.wa == nil {
		s.jsonError(w, r, http.StatusNotFound, "keys.disabled")
		return
	}
	// A new key is a new way in: whoever holds the session must prove the
	// second factor again (a borrowed session is not enough).
	body, ok := readJSON(w, r, 4<<10)
	var in struct {
		Code string `json:"code"`
	}
	if !ok || json.Unmarshal(body, &in) != nil || in.Code == "" {
		s.jsonError(w, r, http.StatusBadRequest, "keys.needcode")
		return
	}
	if ok, wait := s.try(r, sess.keys); !ok {
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": fmt.Sprintf(translate(lang(r), "signin.locked"), int(wait.Minutes())+1)})
		return
	}
	if err := s.c.VerifySecondFactor(r.Context(), sess.actor.UserID, in.Code); err != nil {
		if hush.ErrorCode(err) == hush.EUNAUTHORIZED {
			s.secondFactorFailed(r, sess.actor.UserID)
			s.jsonError(w, r, http.StatusUnauthorized, "mfa.bad")
			return
		}
		s.jsonError(w, r, http.StatusInternalServerError, "error.other")
		return
	}
	s.succeed(sess)
	u, err := s.waMe(r, sess)
	if err != nil {
		s.jsonError(w, r, http.StatusInternalServerError, "error.other")
		return
	}
	creation, data, err := s.wa.BeginRegistration(u,
		webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred))
	if err != nil {
		s.log.Error("webauthn registration begin", "err", err)
		s.jsonError(w, r, http.StatusInternalServerError, "error.other")
		return
	}
	sess.mu.Lock()
	sess.waReg = data
	sess.mu.Unlock()
	writeJSON(w, http.StatusOK, creation)
}

func (s *Server) keysFinish(w http.ResponseWriter, r *http.Request, sess *session) {
	sess.mu.Lock()
	data := sess.waReg
	sess.waReg = nil // a challenge answers once
	sess.mu.Unlock()
	if s.wa == nil || data == nil {
		s.jsonError(w, r, http.StatusBadRequest, "keys.failed")
		return
	}
	body, ok := readJSON(w, r, 64<<10)
	var in struct {
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	if !ok || json.Unmarshal(body, &in) != nil {
		s.jsonError(w, r, http.StatusBadRequest, "keys.failed")
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(in.Credential)
	if err != nil {
		s.jsonError(w, r, http.StatusBadRequest, "keys.failed")
		return
	}
	u, err := s.waMe(r, sess)
	if err != nil {
		s.jsonError(w, r, http.StatusInternalServerError, "error.other")
		return
	}
	cred, err := s.wa.CreateCredential(u, *data, parsed)
	if err != nil {
		s.jsonError(w, r, http.StatusBadRequest, "keys.failed")
		return
	}
	raw, _ := json.Marshal(cred)
	name := strings.TrimSpace(in.Name)
	if name == "" {
		name = translate(lang(r), "keys.defaultname")
	}
	if err := s.c.AddSecurityKey(r.Context(), clinic.SecurityKey{ID: cred.ID, Name: name, Data: raw}); err != nil {
		switch hush.ErrorCode(err) {
		case hush.EINVALID:
			s.jsonError(w, r, http.StatusBadRequest, "keys.badname")
		case hush.ECONFLICT:
			s.jsonError(w, r, http.StatusConflict, "keys.toomany")
		default:
			s.jsonError(w, r, http.StatusInternalServerError, "error.other")
		}
		return
	}
	s.sessions.dropUser(sess.actor.UserID, sess) // a new second factor: other sessions end
	writeJSON(w, http.StatusOK, map[string]string{"next": "/account/keys"})
}

func (s *Server) keysRemove(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	id, err := base64.RawURLEncoding.DecodeString(r.PathValue("id"))
	if err != nil {
		s.error(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	// Removing a key changes how the account signs in: like adding one,
	// it asks for the second factor again (a borrowed session is not
	// enough), counted against the sign-in throttles.
	if ok, _ := s.try(r, sess.keys); !ok {
		s.error(w, r, http.StatusTooManyRequests, "keys.locked")
		return
	}
	if err := s.c.VerifySecondFactor(r.Context(), sess.actor.UserID, r.PostFormValue("code")); err != nil {
		if hush.ErrorCode(err) == hush.EUNAUTHORIZED {
			s.secondFactorFailed(r, sess.actor.UserID)
			s.error(w, r, http.StatusUnauthorized, "mfa.bad")
			return
		}
		s.fail(w, r, err)
		return
	}
	s.succeed(sess)
	if err := s.c.RemoveSecurityKey(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account/keys", http.StatusSeeOther)
}

// --- sign-in with a key, at the second step

func (s *Server) mfaKeyBegin(w http.ResponseWriter, r *http.Request, sess *session) {
	if s.wa == nil {
		s.jsonError(w, r, http.StatusNotFound, "keys.disabled")
		return
	}
	u, err := s.waUserOf(r, sess.actor.UserID, sess.email, "")
	if err != nil {
		s.jsonError(w, r, http.StatusInternalServerError, "error.other")
		return
	}
	if len(u.creds) == 0 {
		s.jsonError(w, r, http.StatusNotFound, "keys.none")
		return
	}
	assertion, data, err := s.wa.BeginLogin(u)
	if err != nil {
		s.log.Error("webauthn login begin", "err", err)
		s.jsonError(w, r, http.StatusInternalServerError, "error.other")
		return
	}
	sess.waLogin = data // the session is locked for the step (pending)
	writeJSON(w, http.StatusOK, assertion)
}

func (s *Server) mfaKeyFinish(w http.ResponseWriter, r *http.Request, sess *session) {
	data := sess.waLogin
	sess.waLogin = nil // a challenge answers once
	if ok, wait := s.try(r, sess.keys); !ok {
		s.sessions.drop(sess)
		clearCookie(w)
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": fmt.Sprintf(translate(lang(r), "signin.locked"), int(wait.Minutes())+1)})
		return
	}
	if s.wa == nil || data == nil {
		s.jsonError(w, r, http.StatusBadRequest, "keys.failed")
		return
	}
	body, ok := readJSON(w, r, 64<<10)
	if !ok {
		s.jsonError(w, r, http.StatusBadRequest, "keys.failed")
		return
	}
	u, err := s.waUserOf(r, sess.actor.UserID, sess.email, "")
	if err != nil {
		s.jsonError(w, r, http.StatusInternalServerError, "error.other")
		return
	}
	var used *clinic.SecurityKey
	parsed, verr := protocol.ParseCredentialRequestResponseBytes(body)
	if verr == nil {
		var cred *webauthn.Credential
		if cred, verr = s.wa.ValidateLogin(u, *data, parsed); verr == nil && cred.Authenticator.CloneWarning {
			// The signature counter went backwards: two copies of the key
			// exist. Refused (and audited); the owner registers a new key.
			verr = errors.New("cloned authenticator")
		}
		if verr == nil {
			for i := range u.keys {
				if string(u.keys[i].ID) == string(cred.ID) {
					used = &u.keys[i]
					used.Data, _ = json.Marshal(cred)
				}
			}
			if used == nil {
				verr = errors.New("no such key")
			}
		}
	}
	if verr != nil {
		verr = hush.Errorf(hush.EUNAUTHORIZED, "the security key was not accepted")
	}
	if err := s.c.SecurityKeyUsed(r.Context(), sess.actor.UserID, used, verr); err != nil {
		if hush.ErrorCode(err) == hush.EUNAUTHORIZED {
			s.secondFactorFailed(r, sess.actor.UserID)
			s.jsonError(w, r, http.StatusUnauthorized, "keys.failed")
			return
		}
		s.jsonError(w, r, http.StatusInternalServerError, "error.other")
		return
	}
	next, err := s.nextStep(w, r, sess)
	if err != nil {
		s.jsonError(w, r, http.StatusInternalServerError, "error.other")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"next": next})
}

// scriptsIf returns the script files when on is true.
func scriptsIf(on bool, files ...string) []string {
	if on {
		return files
	}
	return nil
}
