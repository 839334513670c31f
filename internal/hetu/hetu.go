// Package hetu parses and validates the Finnish personal identity code
// (henkilötunnus, HETU), FHIR identifier system urn:oid:1.2.246.21.
//
// Why it matters: the HETU is the key that ties a patient's record together
// across Finnish healthcare (Kanta, referrals, prescriptions, lab results).
// Accepting a mistyped code silently attaches clinical data to the wrong
// person or to nobody, so every code entering Hush is checked here: format,
// century sign (including the signs Y, X, W, V, U and B, C, D, E, F added on
// 1 January 2023), a real calendar birth date, a valid individual number and
// the mod-31 check character.
//
// Why errors never echo the input: a HETU is personal data (it encodes birth
// date and sex and identifies a person uniquely). Error messages travel into
// logs, HTTP responses and monitoring systems where personal data must not
// go, so an *Error only says what is wrong, never what the input was. Callers
// must not wrap the input into the error either.
package hetu

import (
	"strings"
	"time"
)

// System is the FHIR identifier system for the Finnish personal identity code.
const System = "urn:oid:1.2.246.21"

// checkChars is indexed by DDMMYYZZZ mod 31.
const checkChars = "0123456789ABCDEFHJKLMNPRSTUVWXY"

// Code is a validated personal identity code. The zero value is not a valid
// code. Codes are comparable with ==.
type Code struct {
	day, month int
	year       int  // full year, e.g. 1952
	sign       byte // century sign as written, e.g. '-', 'Y', 'A'
	individual int  // 2..999
	check      byte
}

// Error is returned by Parse. Its message never contains the parsed input.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

var (
	errNonASCII   = &Error{"identity code contains non-ASCII characters"}
	errLength     = &Error{"identity code must be 11 characters"}
	errCentury    = &Error{"identity code has an unknown century sign"}
	errDate       = &Error{"identity code has an invalid date"}
	errIndividual = &Error{"identity code has an invalid individual number"}
	errCheck      = &Error{"identity code check character does not match"}
)

// century returns the base year for a century sign, or -1 if unknown.
func century(c byte) int {
	switch c {
	case '+':
		return 1800
	case '-', 'Y', 'X', 'W', 'V', 'U':
		return 1900
	case 'A', 'B', 'C', 'D', 'E', 'F':
		return 2000
	}
	return -1
}

// digits parses s as an unsigned decimal number of ASCII digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// Parse validates s (surrounding spaces trimmed, letters upper-cased) and
// returns the code. Errors are *Error values whose message says what is
// wrong without echoing the input.
func Parse(s string) (Code, error) {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return Code{}, errNonASCII
		}
	}
	if len(s) != 11 {
		return Code{}, errLength
	}
	var b [11]byte
	for i := 0; i < 11; i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b[i] = c
	}
	u := string(b[:])

	base := century(b[6])
	if base < 0 {
		return Code{}, errCentury
	}
	dd, ok1 := digits(u[0:2])
	mm, ok2 := digits(u[2:4])
	yy, ok3 := digits(u[4:6])
	if !ok1 || !ok2 || !ok3 {
		return Code{}, errDate
	}
	year := base + yy
	if mm < 1 || mm > 12 || dd < 1 || dd > 31 {
		return Code{}, errDate
	}
	t := time.Date(year, time.Month(mm), dd, 0, 0, 0, 0, time.UTC)
	if t.Day() != dd || int(t.Month()) != mm || t.Year() != year {
		return Code{}, errDate
	}
	zzz, ok := digits(u[7:10])
	if !ok || zzz < 2 {
		return Code{}, errIndividual
	}
	n := (dd*10000+mm*100+yy)*1000 + zzz
	if checkChars[n%31] != b[10] {
		return Code{}, errCheck
	}
	return Code{day: dd, month: mm, year: year, sign: b[6], individual: zzz, check: b[10]}, nil
}

// String returns the normalised canonical form, e.g. "131052-308T". The
// century sign is kept as written (both "-" and "Y" denote the 1900s).
// The zero Code returns the empty string.
func (c Code) String() string {
	if c.sign == 0 {
		return ""
	}
	var b [11]byte
	put2 := func(i, v int) { b[i], b[i+1] = byte('0'+v/10), byte('0'+v%10) }
	put2(0, c.day)
	put2(2, c.month)
	put2(4, c.year%100)
	b[6] = c.sign
	b[7] = byte('0' + c.individual/100)
	put2(8, c.individual%100)
	b[10] = c.check
	return string(b[:])
}

// BirthDate returns the date of birth at UTC midnight.
func (c Code) BirthDate() time.Time {
	return time.Date(c.year, time.Month(c.month), c.day, 0, 0, 0, 0, time.UTC)
}

// Temporary reports whether the individual number is 900-999, i.e. the code
// is a temporary identifier rather than a permanent one issued by DVV.
func (c Code) Temporary() bool { return c.individual >= 900 }

// Individual returns the code's individual number (2–899 permanent,
// 900–999 temporary).
func (c Code) Individual() int { return c.individual }

// Sex returns the FHIR administrative gender code implied by the individual
// number: "female" if it is even, "male" if it is odd.
func (c Code) Sex() string {
	if c.individual%2 == 0 {
		return "female"
	}
	return "male"
}

// Make returns the identity code of someone born on birth (1900–2099)
// with the given individual number (2–999): the demo and the canary
// records use the temporary range 900–999, which no permanent code holds.
func Make(birth time.Time, individual int) (Code, error) {
	y := birth.Year()
	if y < 1900 || y > 2099 || individual < 2 || individual > 999 {
		return Code{}, errIndividual
	}
	sign := byte('-')
	if y >= 2000 {
		sign = 'A'
	}
	n := (birth.Day()*10000+int(birth.Month())*100+y%100)*1000 + individual
	return Code{day: birth.Day(), month: int(birth.Month()), year: y, sign: sign, individual: individual, check: checkChars[n%31]}, nil
}
