package auth

import (
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	th := NewThrottle(3, time.Minute, 15*time.Minute)
	now := time.Unix(1_800_000_000, 0)
	for i := 0; i < 2; i++ {
		if ok, _ := th.Allow("a", now); !ok {
			t.Fatal("locked too early")
		}
		if th.Fail("a", now) {
			t.Fatal("locked after", i+1)
		}
	}
	if !th.Fail("a", now) {
		t.Fatal("not locked after 3 failures")
	}
	if ok, wait := th.Allow("a", now.Add(time.Minute)); ok || wait != 14*time.Minute {
		t.Fatalf("allow during lockout: %v %v", ok, wait)
	}
	if ok, _ := th.Allow("b", now); !ok {
		t.Fatal("another key is locked")
	}
	if ok, _ := th.Allow("a", now.Add(16*time.Minute)); !ok {
		t.Fatal("still locked after the lockout")
	}
	// Failures outside the window do not add up.
	th.Fail("c", now)
	th.Fail("c", now.Add(2*time.Minute))
	if th.Fail("c", now.Add(4*time.Minute)) {
		t.Fatal("old failures counted")
	}
	th.Succeed("c")
	if th.Fail("c", now.Add(5*time.Minute)) {
		t.Fatal("success did not clear")
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
