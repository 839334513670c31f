// Package auth holds the second factors of staff sign-in: TOTP (RFC 6238)
// and recovery codes, and the throttle that slows password guessing.
//
// TOTP is the standard's default — HMAC-SHA1, 30-second steps, 6 digits —
// because that is what every authenticator app implements. The shared
// secret is 20 random bytes, kept sealed by the caller; a code is accepted
// in the current step or one step either side (clock drift), and never
// twice (the caller stores the last step used).
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTPStep is the time step of a TOTP code.
const TOTPStep = 30 * time.Second

// NewTOTPSecret returns a fresh 160-bit TOTP secret.
func NewTOTPSecret() []byte {
	b := make([]byte, 20)
	rand.Read(b)
	return b
}

// TOTPSecretText is the secret as authenticator apps take it (base32, no
// padding), for manual entry.
func TOTPSecretText(secret []byte) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
}

// TOTPURI is the otpauth:// URI an authenticator app reads from a QR code.
func TOTPURI(secret []byte, issuer, account string) string {
	v := url.Values{}
	v.Set("secret", TOTPSecretText(secret))
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	return "otpauth://totp/" + url.PathEscape(issuer+":"+account) + "?" + v.Encode()
}

// TOTPCode returns the code for a time step (RFC 4226 HOTP of the step).
func TOTPCode(secret []byte, step int64) string {
	m := hmac.New(sha1.New, secret)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(step))
	m.Write(b[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1_000_000)
}

// StepAt returns the TOTP step of t.
func StepAt(t time.Time) int64 { return t.Unix() / int64(TOTPStep/time.Second) }

// CheckTOTP checks code against the steps around now and returns the step it
// matched. A step at or before lastUsed is refused, so a code works once.
func CheckTOTP(secret []byte, code string, now time.Time, lastUsed int64) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, false
	}
	cur := StepAt(now)
	matched, ok := int64(0), 0
	for _, s := range []int64{cur - 1, cur, cur + 1} {
		eq := subtle.ConstantTimeCompare([]byte(TOTPCode(secret, s)), []byte(code))
		if eq == 1 && s > lastUsed {
			matched, ok = s, 1
		}
	}
	return matched, ok == 1
}

// TOTPSecretFromText parses a secret as TOTPSecretText prints it.
func TOTPSecretFromText(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimSpace(s)))
}
