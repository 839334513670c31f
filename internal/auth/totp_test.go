package auth

import (
	"strings"
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1, 8 digits: the 6-digit codes are the last six
// digits of those values.
func TestTOTPRFC6238Vectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
		{20000000000, "353130"},
	} {
		if got := TOTPCode(secret, StepAt(time.Unix(tc.unix, 0))); got != tc.want {
			t.Errorf("T=%d: %s, want %s", tc.unix, got, tc.want)
		}
	}
}

func TestCheckTOTP(t *testing.T) {
	secret := NewTOTPSecret()
	now := time.Unix(1_800_000_000, 0)
	cur := StepAt(now)
	for _, tc := range []struct {
		name     string
		code     string
		lastUsed int64
		ok       bool
	}{
		{"current", TOTPCode(secret, cur), 0, true},
		{"with spaces", TOTPCode(secret, cur)[:3] + " " + TOTPCode(secret, cur)[3:], 0, true},
		{"previous step (drift)", TOTPCode(secret, cur-1), 0, true},
		{"next step (drift)", TOTPCode(secret, cur+1), 0, true},
		{"two steps old", TOTPCode(secret, cur-2), 0, false},
		{"replayed", TOTPCode(secret, cur), cur, false},
		{"short", "12345", 0, false},
		{"letters", "abcdef", 0, false},
	} {
		_, ok := CheckTOTP(secret, tc.code, now, tc.lastUsed)
		if ok != tc.ok {
			t.Errorf("%s: ok=%v, want %v", tc.name, ok, tc.ok)
		}
	}
}

func TestTOTPURI(t *testing.T) {
	u := TOTPURI([]byte("12345678901234567890"), "Hush Clinic", "maria@clinic.fi")
	if !strings.HasPrefix(u, "otpauth://totp/Hush%20Clinic:maria@clinic.fi?") || !strings.Contains(u, "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") {
		t.Fatalf("uri %s", u)
	}
}
