package web

import (
	"testing"
	"time"
)

// SetClock replaces the server's clock (tests of timeouts).
func (s *Server) SetClock(now func() time.Time) { s.now = now }

// Catalog exposes the message catalog to tests.
var Catalog = catalog

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":             "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":  "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":  "2001:db8:1:2::/64",
		"not an address at all": "not an address at all",
	} {
		if got := addrKey(in); got != want {
			t.Errorf("addrKey(%q) = %q, want %q", in, got, want)
		}
	}
}
