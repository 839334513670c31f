package web

import (
	"fmt"
	"testing"
	"time"
)

// TestSigninWatchMFA: the guessing alert is raised at the third failure
// in the window, once a window.
func TestSigninWatchMFA(t *testing.T) {
	sw := newSigninWatch()
	now := time.Unix(1_800_000_000, 0)
	w := 15 * time.Minute
	for i, c := range []struct {
		after time.Duration
		n     int
		raise bool
	}{
		{0, 1, false}, {time.Minute, 2, false}, {time.Minute, 3, true}, {time.Minute, 4, false},
		{20 * time.Minute, 1, false}, // the window moved on
		{time.Minute, 2, false}, {time.Minute, 3, true},
	} {
		now = now.Add(c.after)
		n, raise := sw.mfaFailed("u1", now, w)
		if n != c.n || raise != c.raise {
			t.Errorf("failure %d: %d %v, want %d %v", i+1, n, raise, c.n, c.raise)
		}
	}
}

// TestSigninWatchBounded: sign-in names are the client's choice; the
// watch does not grow without bound.
func TestSigninWatchBounded(t *testing.T) {
	sw := newSigninWatch()
	now := time.Unix(1_800_000_000, 0)
	for i := 0; i < 120000; i++ {
		w := sw.get(fmt.Sprintf("email:%d@x", i), now, time.Minute)
		w.addrs["192.0.2.1"] = now
	}
	if len(sw.m) > 2*watchCap {
		t.Fatalf("%d records", len(sw.m))
	}
	// Past the window they are pruned at the next growth.
	for i := 0; len(sw.m) >= watchPrune && i < 2*watchCap; i++ {
		sw.get(fmt.Sprintf("email:later%d@x", i), now.Add(2*time.Minute), time.Minute)
	}
	if len(sw.m) >= watchPrune {
		t.Fatalf("%d records after the window", len(sw.m))
	}
}
