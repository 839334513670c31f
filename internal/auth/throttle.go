package auth

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"sync"
	"time"
)

// Throttle slows guessing: each key (an account, a client address) gets
// Limit attempts per Window; the attempt that reaches the limit locks the
// key for Lockout. An attempt is counted when it is allowed — before the
// password or code is checked — so parallel requests cannot slip past the
// limit; a success clears the key. The state is in memory.
type Throttle struct {
	Limit   int
	Window  time.Duration
	Lockout time.Duration

	mu    sync.Mutex
	state map[string]*throttleState
	prune int // prune when the map grows past this (doubles with it)
}

// The throttle's memory is bounded: past throttlePrune keys the expired
// ones are dropped (again each time the map has doubled, so pruning costs
// O(1) per attempt on average), and past throttleCap the keys that are not
// locked are forgotten too: partial counts of strangers' made-up names go
// before any lock does.
const (
	throttlePrune = 10_000
	throttleCap   = 200_000
)

type throttleState struct {
	tries       []time.Time
	lockedUntil time.Time
}

// NewThrottle returns a throttle with the given limit, window and lockout.
func NewThrottle(limit int, window, lockout time.Duration) *Throttle {
	return &Throttle{Limit: limit, Window: window, Lockout: lockout, state: map[string]*throttleState{}}
}

// Try counts an attempt for key and reports whether it may go ahead; when
// not, it says how long the key stays locked.
func (t *Throttle) Try(key string, now time.Time) (bool, time.Duration) {
	v := t.Attempt(key, now)
	return v.OK, v.Wait
}

// Verdict is the outcome of one counted attempt.
type Verdict struct {
	OK      bool          // the attempt may go ahead
	Wait    time.Duration // when refused: how long the key stays locked
	Engaged bool          // this attempt crossed the limit and locked the key
}

// Attempt counts an attempt for key, as Try does, and also says whether it
// was this attempt that locked the key (once per lock: the moment to alert).
func (t *Throttle) Attempt(key string, now time.Time) Verdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.state) > max(t.prune, throttlePrune) {
		t.pruneLocked(now)
		if len(t.state) > throttleCap {
			for k, s := range t.state {
				if !now.Before(s.lockedUntil) {
					delete(t.state, k)
				}
			}
		}
		for k := range t.state {
			if len(t.state) <= throttleCap {
				break
			}
			delete(t.state, k) // only locks left, and too many: the oldest go at random
		}
		t.prune = 2 * len(t.state)
	}
	s := t.state[key]
	if s == nil {
		s = &throttleState{}
		t.state[key] = s
	}
	if now.Before(s.lockedUntil) {
		return Verdict{Wait: s.lockedUntil.Sub(now)}
	}
	kept := s.tries[:0]
	for _, f := range s.tries {
		if now.Sub(f) < t.Window {
			kept = append(kept, f)
		}
	}
	s.tries = append(kept, now)
	if len(s.tries) > t.Limit {
		s.lockedUntil, s.tries = now.Add(t.Lockout), nil
		return Verdict{Wait: t.Lockout, Engaged: true}
	}
	return Verdict{OK: true}
}

// Succeed clears a key.
func (t *Throttle) Succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.state, key)
}

func (t *Throttle) pruneLocked(now time.Time) {
	for k, s := range t.state {
		if !now.Before(s.lockedUntil) && (len(s.tries) == 0 || now.Sub(s.tries[len(s.tries)-1]) >= t.Window) {
			delete(t.state, k)
		}
	}
}

// NewRecoveryCodes returns n single-use recovery codes of 10 base32
// characters (50 bits each), shown once as xxxxx-xxxxx.
func NewRecoveryCodes(n int) []string {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	out := make([]string, n)
	for i := range out {
		b := make([]byte, 7)
		rand.Read(b)
		s := strings.ToLower(enc.EncodeToString(b))[:10]
		out[i] = s[:5] + "-" + s[5:]
	}
	return out
}

// NewEnrolmentCode returns a one-time enrolment code of 20 base32
// characters (100 bits), shown as xxxxx-xxxxx-xxxxx-xxxxx. It completes an
// admin-created account's first sign-in; NormalizeRecoveryCode folds it
// as typed.
func NewEnrolmentCode() string {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	b := make([]byte, 13)
	rand.Read(b)
	s := strings.ToLower(enc.EncodeToString(b))[:20]
	return s[:5] + "-" + s[5:10] + "-" + s[10:15] + "-" + s[15:]
}

// NormalizeRecoveryCode folds a typed code to its stored form.
func NormalizeRecoveryCode(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer("-", "", " ", "").Replace(s)
	return s
}
