package auth

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	th := NewThrottle(3, time.Minute, 15*time.Minute)
	now := time.Unix(1_800_000_000, 0)
	for i := 0; i < 3; i++ {
		if ok, _ := th.Try("a", now); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if ok, wait := th.Try("a", now); ok || wait != 15*time.Minute {
		t.Fatalf("4th attempt: %v %v", ok, wait)
	}
	if ok, wait := th.Try("a", now.Add(time.Minute)); ok || wait != 14*time.Minute {
		t.Fatalf("during lockout: %v %v", ok, wait)
	}
	if ok, _ := th.Try("b", now); !ok {
		t.Fatal("another key is locked")
	}
	if ok, _ := th.Try("a", now.Add(16*time.Minute)); !ok {
		t.Fatal("still locked after the lockout")
	}
	// Attempts outside the window do not add up; success clears.
	for i := 0; i < 5; i++ {
		if ok, _ := th.Try("c", now.Add(time.Duration(i)*2*time.Minute)); !ok {
			t.Fatal("spread-out attempts locked the key")
		}
	}
	th.Succeed("c")
}

// TestThrottleParallel: a burst of parallel attempts gets exactly Limit
// through.
func TestThrottleParallel(t *testing.T) {
	th := NewThrottle(5, time.Minute, 15*time.Minute)
	now := time.Unix(1_800_000_000, 0)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := th.Try("a", now); ok {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 5 {
		t.Fatalf("%d of 300 parallel attempts allowed, want 5", allowed.Load())
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes := NewRecoveryCodes(10)
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 11 || c[5] != '-' || seen[c] {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
		if NormalizeRecoveryCode(" "+c[:5]+" "+c[6:]+" ") != c[:5]+c[6:] {
			t.Fatalf("normalize %q", c)
		}
	}
}

// TestThrottleEngaged: Attempt reports the lock once, on the attempt that
// crossed the limit, not on the refusals during it.
func TestThrottleEngaged(t *testing.T) {
	th := NewThrottle(2, time.Minute, 15*time.Minute)
	now := time.Unix(1_800_000_000, 0)
	var got []Verdict
	for i := 0; i < 4; i++ {
		got = append(got, th.Attempt("a", now))
	}
	want := []Verdict{{OK: true}, {OK: true}, {Wait: 15 * time.Minute, Engaged: true}, {Wait: 15 * time.Minute}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("attempt %d: %+v, want %+v", i+1, got[i], want[i])
		}
	}
}

func TestEnrolmentCodeShape(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		c := NewEnrolmentCode()
		if len(c) != 23 || strings.Count(c, "-") != 3 || seen[c] || strings.Trim(c, "abcdefghijklmnopqrstuvwxyz234567-") != "" {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
		if n := NormalizeRecoveryCode(" " + strings.ToUpper(c) + " "); n != strings.ReplaceAll(c, "-", "") {
			t.Fatalf("normalised %q", n)
		}
	}
}
