package auth

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"sync"
	"time"
)

// Throttle slows guessing: after Limit failures for a key (an account or a
// client address) within Window, the key is locked for Lockout. A success
// clears the key. The state is in memory: a restart forgets it, which costs
// an attacker a restart they cannot cause.
type Throttle struct {
	Limit   int
	Window  time.Duration
	Lockout time.Duration

	mu    sync.Mutex
	state map[string]*throttleState
}

type throttleState struct {
	fails       []time.Time
	lockedUntil time.Time
}

// NewThrottle returns a throttle with the given limit, window and lockout.
func NewThrottle(limit int, window, lockout time.Duration) *Throttle {
	return &Throttle{Limit: limit, Window: window, Lockout: lockout, state: map[string]*throttleState{}}
}

// Allow reports whether key may try now, and if not, for how long it waits.
func (t *Throttle) Allow(key string, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state[key]
	if s == nil || !now.Before(s.lockedUntil) {
		return true, 0
	}
	return false, s.lockedUntil.Sub(now)
}

// Fail records a failure and reports whether the key is now locked.
func (t *Throttle) Fail(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state[key]
	if s == nil {
		s = &throttleState{}
		t.state[key] = s
	}
	kept := s.fails[:0]
	for _, f := range s.fails {
		if now.Sub(f) < t.Window {
			kept = append(kept, f)
		}
	}
	s.fails = append(kept, now)
	if len(s.fails) >= t.Limit {
		s.lockedUntil = now.Add(t.Lockout)
		s.fails = nil
		return true
	}
	return false
}

// Succeed clears a key.
func (t *Throttle) Succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.state, key)
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

// NormalizeRecoveryCode folds a typed code to its stored form.
func NormalizeRecoveryCode(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer("-", "", " ", "").Replace(s)
	return s
}
