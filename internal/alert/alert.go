// Package alert delivers Hush's security alerts (a tripwire fired: an
// account opened too many charts, a canary record was read) to the clinic
// over up to three channels: a signed HTTPS webhook, e-mail through the
// clinic's SMTP relay, and the local syslog.
//
// # Why three channels
//
// An alert matters most when something is wrong, and then any one channel
// may be down or in the attacker's hands: the mail relay may queue, the
// webhook receiver may be unreachable, syslog may be read only on the next
// morning. Each configured channel gets every alert independently, with its
// own queue and worker, so a dead webhook never holds up syslog.
//
// # No patient data
//
// An alert leaves the patient record: it goes to inboxes, chat rooms and log
// collectors that are not protected like the record is. So an Alert carries
// only kinds, severities, random ids, counts and times; its Summary is a fixed
// English sentence the caller picks from a table. The audit event named by
// AuditIndex holds the detail, inside Hush. Send also rewrites characters
// outside a small allowed set so that no field can smuggle extra mail
// headers or log lines (see Alert).
//
// # Never on the request path
//
// Send only queues: a tripwire fires inside a request, and an attacker who
// trips it must not be able to slow that request down, nor a slow relay the
// clinic's work. Each queue is bounded; when it is full the alert is dropped
// for that channel and the drop is written to the operator's log. Delivery
// is a notification, not the record: the audit log already holds the alert.
//
// # Webhook
//
// The webhook is a POST of a JSON object with these stable fields:
//
//	id, kind, severity, account, summary, count, limit,
//	window_seconds (whole seconds), at (RFC 3339, UTC), frozen, audit_index
//
// It carries the headers Hush-Timestamp (Unix seconds) and Hush-Signature
// ("v1=" and the hex HMAC-SHA256 of timestamp + "." + body under the shared
// secret), so that a receiver can reject forgeries and replays with
// VerifyWebhook. Any 2xx status means delivered; anything else is retried,
// and each retry is signed afresh. A retry can deliver an alert twice:
// receivers should ignore an id they have already seen.
package alert

import (
	"crypto/rand"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Severity says how urgently a person should look.
type Severity string

// Severities.
const (
	Warning  Severity = "warning"  // look today
	Critical Severity = "critical" // look now
)

// Alert is one security alert. Every field must be free of personal data.
//
// Send rewrites fields before they reach any channel: ID, Kind and Account
// keep only ASCII letters, digits and ". _ : -" (anything else becomes "_")
// and at most 128 bytes; Summary loses control and other non-printing
// characters (they become spaces) and is cut to 300 characters. A Severity
// other than Warning or Critical is sent as Critical, so that a mistake never
// makes an alert quieter. An empty ID is replaced by a random one and a zero
// At by the time of Send.
type Alert struct {
	ID         string        // random id chosen by the caller
	Kind       string        // e.g. "volume.charts", "canary.open", "offhours"
	Severity   Severity      // Warning or Critical
	Account    string        // the account's random id (never a name or address)
	Summary    string        // fixed English text from the caller's table
	Count      int           // what was counted, if anything
	Limit      int           // the threshold it was counted against
	Window     time.Duration // the period it was counted over
	At         time.Time     // when the tripwire fired
	Frozen     bool          // whether the account was frozen
	AuditIndex int64         // index of the audit event that recorded the alert
}

const (
	maxToken   = 128
	maxSummary = 300
)

// clean returns a with its fields rewritten as the Alert documentation says,
// and whether anything had to change (an empty ID or zero At do not count).
func clean(a Alert, now time.Time) (Alert, bool) {
	changed := false
	fix := func(s string, f func(string) string) string {
		t := f(s)
		if t != s {
			changed = true
		}
		return t
	}
	a.ID = fix(a.ID, token)
	a.Kind = fix(a.Kind, token)
	a.Account = fix(a.Account, token)
	a.Summary = fix(a.Summary, text)
	if a.Severity != Warning && a.Severity != Critical {
		a.Severity = Critical
		changed = true
	}
	if a.ID == "" {
		a.ID = rand.Text()
	}
	if a.At.IsZero() {
		a.At = now
	}
	return a, changed
}

// token keeps the characters of an identifier that are safe in a mail
// header, a syslog key=value pair and a URL without quoting.
func token(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxToken {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '.', r == '_', r == ':', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// text keeps printable characters (invalid UTF-8 becomes U+FFFD) and cuts
// the result to maxSummary characters.
func text(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxSummary {
			break
		}
		n++
		if !unicode.IsPrint(r) {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

// syslogLine formats a cleaned alert as one key=value line. The token fields
// need no quoting; the summary is quoted.
func syslogLine(a Alert) string {
	var b strings.Builder
	b.WriteString("hush alert id=")
	b.WriteString(a.ID)
	b.WriteString(" kind=")
	b.WriteString(a.Kind)
	b.WriteString(" severity=")
	b.WriteString(string(a.Severity))
	b.WriteString(" account=")
	b.WriteString(a.Account)
	b.WriteString(" count=")
	b.WriteString(strconv.Itoa(a.Count))
	b.WriteString(" limit=")
	b.WriteString(strconv.Itoa(a.Limit))
	b.WriteString(" frozen=")
	b.WriteString(strconv.FormatBool(a.Frozen))
	b.WriteString(" window_seconds=")
	b.WriteString(strconv.FormatInt(int64(a.Window/time.Second), 10))
	b.WriteString(" audit_index=")
	b.WriteString(strconv.FormatInt(a.AuditIndex, 10))
	b.WriteString(" at=")
	b.WriteString(a.At.UTC().Format(time.RFC3339))
	b.WriteString(" summary=")
	b.WriteString(strconv.QuoteToASCII(a.Summary))
	return b.String()
}

// isASCII reports whether s is 7-bit.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
