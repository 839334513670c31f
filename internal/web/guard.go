package web

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hushepr/hush/internal/auth"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
)

// Sign-in under attack (docs/web.md, "Sign-in under attack").
//
// Every step of a sign-in — the password, the enrolment code, the second
// factor — counts against the same throttles, and only a completed
// sign-in clears the account's count: knowing the password buys no fresh
// guesses at the second factor.
//
// A browser that completed a sign-in to an account carries a known-device
// cookie for it (__Host-, HttpOnly, Secure, SameSite=Strict, MAC'd by the
// clinic with the account id and an expiry). From that browser, sign-ins
// to that account count against the device's own counter instead of the
// account's and the address's: whoever locks the account from elsewhere
// does not lock its holder out. Repeated second-factor failures, an
// account lock, and failures from many addresses against a locked account
// raise alerts on the clinic's alert channels (ids only).

const (
	deviceCookie = "__Host-hush-device"
	// mfaAlertAt is how many wrong second factors (after a right password)
	// within the account window raise AlertMFAGuessing.
	mfaAlertAt = 3
	// spreadAlertAt is how many addresses failing against a locked account
	// raise AlertLockoutSpread.
	spreadAlertAt = 3
)

// attemptKeys returns the throttle keys a sign-in to email from r counts
// against: the known device's own, or the account's and the address's.
func (s *Server) attemptKeys(r *http.Request, email string) []string {
	if c, err := r.Cookie(deviceCookie); err == nil {
		if uid, dev, ok := s.c.CheckDeviceToken(c.Value); ok {
			if u, err := s.c.UserByEmail(r.Context(), email); err == nil && u.ID == uid {
				return []string{"dev:" + dev}
			}
		}
	}
	// The address first: once it is locked, its attempts stop there and
	// leave no count (and no memory) under the names it tries.
	return []string{"addr:" + addrKey(clientAddr(r)), "email:" + email}
}

func (s *Server) throttleOf(key string) *auth.Throttle {
	switch {
	case strings.HasPrefix(key, "dev:"):
		return s.byDevice
	case strings.HasPrefix(key, "addr:"):
		return s.byAddr
	}
	return s.byEmail
}

// try counts one sign-in step against keys; the count is taken before the
// check, so parallel guesses cannot pass the limit. A refusal says how
// long the lock lasts.
func (s *Server) try(r *http.Request, keys []string) (bool, time.Duration) {
	now := s.now()
	for _, k := range keys {
		v := s.throttleOf(k).Attempt(k, now)
		if email, ok := strings.CutPrefix(k, "email:"); ok {
			s.watch.account(r, s, email, v, now)
		}
		if !v.OK {
			return false, v.Wait
		}
	}
	return true, 0
}

// succeed clears the account's and the device's counts once a sign-in is
// complete (the address's count stays: it is shared).
func (s *Server) succeed(sess *session) {
	for _, k := range sess.keys {
		if !strings.HasPrefix(k, "addr:") {
			s.throttleOf(k).Succeed(k)
		}
	}
	s.watch.forget("email:" + sess.email)
}

// secondFactorFailed notes a wrong second factor after a right password
// and raises AlertMFAGuessing when they repeat.
func (s *Server) secondFactorFailed(r *http.Request, userID string) {
	if n, raise := s.watch.mfaFailed(userID, s.now(), s.byEmail.Window); raise {
		s.c.RaiseSignInAlert(r.Context(), clinic.SignInAlert{Kind: clinic.AlertMFAGuessing, Account: userID, Count: n,
			Limit: s.byEmail.Limit, Window: s.byEmail.Window, Critical: true})
	}
}

// setDevice marks the browser as a known device of the session's account.
func (s *Server) setDevice(w http.ResponseWriter, sess *session) {
	http.SetCookie(w, &http.Cookie{Name: deviceCookie, Value: s.c.DeviceToken(sess.actor.UserID), Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(clinic.DeviceTTL / time.Second)})
}

// signinWatch remembers, per account, what the alerts need: the addresses
// trying a locked account and the recent second-factor failures.
type signinWatch struct {
	mu    sync.Mutex
	m     map[string]*watched // "email:..." or "user:..."
	prune int                 // prune when the map grows past this
}

type watched struct {
	addrs      map[string]time.Time // address -> last attempt
	lockedTill time.Time            // the current lock's end (zero: none seen)
	spreadSent bool                 // AlertLockoutSpread sent for the current lock
	fails      []time.Time          // second-factor failures
	mfaSentAt  time.Time
}

const watchPrune, watchCap = 10000, 50000

func newSigninWatch() *signinWatch { return &signinWatch{m: map[string]*watched{}, prune: watchPrune} }

// get returns key's record, making one. Records with nothing in the
// window are pruned when the map has doubled since the last pruning (so
// the cost stays constant per call: sign-in names are the client's
// choice); past a hard cap everything is forgotten, which costs at most a
// repeated alert.
func (sw *signinWatch) get(key string, now time.Time, window time.Duration) *watched {
	if len(sw.m) > sw.prune {
		for k, w := range sw.m {
			if !w.live(now, window) {
				delete(sw.m, k)
			}
		}
		if len(sw.m) > watchCap {
			clear(sw.m)
		}
		sw.prune = max(watchPrune, 2*len(sw.m))
	}
	w := sw.m[key]
	if w == nil {
		w = &watched{addrs: map[string]time.Time{}}
		sw.m[key] = w
	}
	return w
}

// live reports whether w still holds anything within the window.
func (w *watched) live(now time.Time, window time.Duration) bool {
	if now.Before(w.lockedTill) || now.Sub(w.mfaSentAt) < window {
		return true
	}
	for _, t := range w.addrs {
		if now.Sub(t) < window {
			return true
		}
	}
	for _, t := range w.fails {
		if now.Sub(t) < window {
			return true
		}
	}
	return false
}

// maxAddrs bounds the addresses remembered per account (the alert needs
// spreadAlertAt of them).
const maxAddrs = 64

// forget drops what is watched for key (after a completed sign-in).
func (sw *signinWatch) forget(key string) {
	sw.mu.Lock()
	delete(sw.m, key)
	sw.mu.Unlock()
}

// account notes an attempt on an account's key and raises the lockout
// alerts: once when the lock engages, and once per lock when attempts
// come from spreadAlertAt or more addresses.
func (sw *signinWatch) account(r *http.Request, s *Server, email string, v auth.Verdict, now time.Time) {
	window := s.byEmail.Window
	sw.mu.Lock()
	w := sw.get("email:"+email, now, window)
	for a, t := range w.addrs {
		if now.Sub(t) >= window {
			delete(w.addrs, a)
		}
	}
	if a := addrKey(clientAddr(r)); len(w.addrs) < maxAddrs || w.addrs[a] != (time.Time{}) {
		w.addrs[a] = now
	}
	var kinds []string
	if v.Engaged {
		w.lockedTill, w.spreadSent = now.Add(v.Wait), false
		kinds = append(kinds, clinic.AlertLockout)
	}
	if !v.OK && now.Before(w.lockedTill) && !w.spreadSent && len(w.addrs) >= spreadAlertAt {
		w.spreadSent = true
		kinds = append(kinds, clinic.AlertLockoutSpread)
	}
	n := len(w.addrs)
	sw.mu.Unlock()
	if len(kinds) == 0 {
		return
	}
	u, err := s.c.UserByEmail(r.Context(), email)
	if err != nil {
		return // no such account: nobody to keep out
	}
	ctx := context.WithoutCancel(r.Context())
	for _, k := range kinds {
		s.c.RaiseSignInAlert(ctx, clinic.SignInAlert{Kind: k, Account: u.ID, Count: n, Limit: s.byEmail.Limit, Window: window,
			Critical: k == clinic.AlertLockoutSpread})
	}
}

// mfaFailed notes a second-factor failure and reports the count in the
// window and whether to raise the alert (at most once a window).
func (sw *signinWatch) mfaFailed(userID string, now time.Time, window time.Duration) (int, bool) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	w := sw.get("user:"+userID, now, window)
	kept := w.fails[:0]
	for _, t := range w.fails {
		if now.Sub(t) < window {
			kept = append(kept, t)
		}
	}
	w.fails = append(kept, now)
	if len(w.fails) >= mfaAlertAt && now.Sub(w.mfaSentAt) >= window {
		w.mfaSentAt = now
		return len(w.fails), true
	}
	return len(w.fails), false
}

// --- the enrolment code step

func (s *Server) enrolCodePage(w http.ResponseWriter, r *http.Request, sess *session) {
	s.render(w, r, http.StatusOK, "enrolcode", page{Title: "enrolcode.title"})
}

func (s *Server) enrolCode(w http.ResponseWriter, r *http.Request, sess *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if !s.stepAllowed(w, r, sess) {
		return
	}
	code := strings.TrimSpace(r.PostFormValue("code"))
	if err := s.c.CheckEnrolmentCode(r.Context(), sess.actor.UserID, code); err != nil {
		if hush.ErrorCode(err) != hush.EUNAUTHORIZED {
			s.fail(w, r, err)
			return
		}
		s.render(w, r, http.StatusUnauthorized, "enrolcode", page{Title: "enrolcode.title", Error: "enrolcode.bad"})
		return
	}
	sess.enrol, sess.stage = code, stageEnroll
	http.Redirect(w, r, "/signin/enroll", http.StatusSeeOther)
}
