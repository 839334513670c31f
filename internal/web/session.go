package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hushepr/hush/internal/hush"
)

// Session limits: a session ends after 15 idle minutes or 12 hours, and at
// sign-out; its unlocked key and record seeds are wiped then.
const (
	IdleTimeout     = 15 * time.Minute
	AbsoluteTimeout = 12 * time.Hour
	cookieName      = "__Host-hush"
)

type stage int

const (
	stageMFA    stage = iota // password accepted, second factor pending
	stageEnroll              // password and enrolment code accepted, no second factor yet: enrol one
	stageCodes               // enrolled; recovery codes shown once
	stageChange              // must choose a new password (and key pair)
	stageFull                // signed in
	stageCode                // password accepted, no second factor: the enrolment code first
)

type session struct {
	mu       sync.Mutex // held through each sign-in step
	id       string
	stage    stage
	actor    *hush.Actor
	email    string
	secret   []byte                // TOTP secret being enrolled
	enrol    string                // the enrolment code accepted at stageCode, spent at enrolment
	keys     []string              // the throttle keys this sign-in counts against (attemptKeys)
	codes    []string              // recovery codes to show once
	waLogin  *webauthn.SessionData // a security-key challenge at the second step
	waReg    *webauthn.SessionData // a security-key registration under way
	created  time.Time
	lastSeen time.Time
}

// stageNow reads the stage under the session's lock.
func (s *session) stageNow() stage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stage
}

func (s *session) wipe() {
	s.actor.Session.Wipe()
	s.actor.Key = nil
	clear(s.secret)
	s.codes, s.enrol = nil, ""
	s.waLogin, s.waReg = nil, nil
}

type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessions() *sessions { return &sessions{m: map[string]*session{}} }

func (ss *sessions) create(a *hush.Actor, email string, st stage, now time.Time) *session {
	b := make([]byte, 32)
	rand.Read(b)
	s := &session{id: base64.RawURLEncoding.EncodeToString(b), stage: st, actor: a, email: email, created: now, lastSeen: now}
	if a.Credential == "" {
		// The audit log and the tripwires name the sign-in by a random id
		// of its own, never by the cookie's secret.
		pub := make([]byte, 12)
		rand.Read(pub)
		a.Credential = "web:" + base64.RawURLEncoding.EncodeToString(pub)
	}
	ss.mu.Lock()
	ss.m[s.id] = s
	ss.mu.Unlock()
	return s
}

// get returns the live session of the request, refreshing its idle timer,
// or nil (an expired one is wiped).
func (ss *sessions) get(r *http.Request, now time.Time) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[c.Value]
	if s == nil {
		return nil
	}
	if now.Sub(s.lastSeen) >= IdleTimeout || now.Sub(s.created) >= AbsoluteTimeout {
		s.wipe()
		delete(ss.m, s.id)
		return nil
	}
	s.lastSeen = now
	return s
}

func (ss *sessions) drop(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.wipe()
	delete(ss.m, s.id)
}

// dropUser ends every session of a user but keep (after a password or
// second-factor change, or a deactivation).
func (ss *sessions) dropUser(userID string, keep *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, s := range ss.m {
		if s != keep && s.actor.UserID == userID {
			s.wipe()
			delete(ss.m, id)
		}
	}
}

// sweep wipes sessions that timed out.
func (ss *sessions) sweep(now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, s := range ss.m {
		if now.Sub(s.lastSeen) >= IdleTimeout || now.Sub(s.created) >= AbsoluteTimeout {
			s.wipe()
			delete(ss.m, id)
		}
	}
}

func setCookie(w http.ResponseWriter, s *session) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.id, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
}
