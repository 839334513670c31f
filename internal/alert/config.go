package alert

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hushepr/hush/internal/hush"
)

// Defaults for the zero values of Config.
const (
	DefaultQueueSize = 64
	DefaultTimeout   = 10 * time.Second
	MinSecretLen     = 32 // bytes of WebhookSecret
)

// DefaultRetry returns the delays before each delivery attempt used when
// Config.Retry is empty: at once, after 2 s, after 10 s more.
func DefaultRetry() []time.Duration {
	return []time.Duration{0, 2 * time.Second, 10 * time.Second}
}

// Config chooses the channels. A channel is on when its address is set;
// with none set, Send does nothing (the audit log still holds every alert).
type Config struct {
	// WebhookURL is an https:// URL, or http:// for a loopback host only
	// (127.0.0.0/8, ::1, localhost). Empty turns the webhook off. The URL
	// may hold a secret in its path (chat services do this), so it is never
	// logged or echoed: only its host is.
	WebhookURL string
	// WebhookSecret is the HMAC-SHA256 key, at least MinSecretLen bytes.
	WebhookSecret []byte
	// WebhookClient sends the POST; nil means a client that does not
	// follow redirects (a 3xx counts as a failure).
	WebhookClient *http.Client

	// SMTPAddr is host:port of the clinic's relay. Empty turns e-mail off.
	SMTPAddr string
	SMTPFrom string   // envelope and From: address
	SMTPTo   []string // recipients, at least one
	// SMTPUsername and SMTPPassword turn on AUTH PLAIN, which is only sent
	// over TLS (or to a loopback relay), so a non-loopback relay needs
	// SMTPRequireTLS.
	SMTPUsername string
	SMTPPassword string
	// SMTPTLS configures STARTTLS, which is used whenever the relay offers
	// it; nil means the system roots and the host of SMTPAddr.
	SMTPTLS *tls.Config
	// SMTPRequireTLS refuses a relay that does not offer STARTTLS. It is off
	// by default so that a plain relay on the same host works.
	SMTPRequireTLS bool

	// Syslog writes each alert to syslog as facility auth, tag "hush".
	Syslog bool
	// SyslogNetwork and SyslogAddr name a syslog server ("udp",
	// "127.0.0.1:514"); both empty mean the local socket (/dev/log).
	SyslogNetwork string
	SyslogAddr    string

	// Logger is the operator's log for failed and dropped deliveries (ids
	// only). Nil means text on standard error.
	Logger *slog.Logger
	// QueueSize bounds each channel's queue; 0 means DefaultQueueSize.
	QueueSize int
	// Retry holds the delay before each attempt, so len(Retry) is the
	// number of attempts; empty means DefaultRetry().
	Retry []time.Duration
	// Timeout bounds one attempt on one channel; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Validate reports the first problem with c as a hush.EINVALID error. The
// messages name fields, never their secret values.
func (c Config) Validate() error {
	if err := c.validateWebhook(); err != nil {
		return err
	}
	if err := c.validateSMTP(); err != nil {
		return err
	}
	switch c.SyslogNetwork {
	case "", "udp", "udp4", "udp6", "tcp", "tcp4", "tcp6", "unix", "unixgram":
	default:
		return invalid("alert: SyslogNetwork must be udp, tcp, unix, unixgram or empty for the local syslog")
	}
	if (c.SyslogNetwork == "") != (c.SyslogAddr == "") {
		return invalid("alert: set both SyslogNetwork and SyslogAddr, or neither for the local syslog")
	}
	if !c.Syslog && c.SyslogNetwork != "" {
		return invalid("alert: SyslogAddr is set but Syslog is off")
	}
	if c.QueueSize < 0 || c.QueueSize > 1<<16 {
		return invalid("alert: QueueSize must be between 0 (default) and 65536")
	}
	if len(c.Retry) > 10 {
		return invalid("alert: Retry allows at most 10 attempts")
	}
	for _, d := range c.Retry {
		if d < 0 || d > time.Hour {
			return invalid("alert: each Retry delay must be between 0 and 1h")
		}
	}
	if c.Timeout < 0 {
		return invalid("alert: Timeout must not be negative")
	}
	return nil
}

func (c Config) validateWebhook() error {
	if c.WebhookURL == "" {
		if len(c.WebhookSecret) > 0 {
			return invalid("alert: WebhookSecret is set but WebhookURL is empty")
		}
		return nil
	}
	if hasCRLF(c.WebhookURL) {
		return invalid("alert: WebhookURL must not contain CR or LF")
	}
	u, err := url.Parse(c.WebhookURL)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return invalid("alert: WebhookURL is not an absolute URL")
	}
	if u.User != nil {
		return invalid("alert: WebhookURL must not carry a user or password; the signature authenticates Hush")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return invalid("alert: WebhookURL must use https (http is allowed only for a loopback host)")
		}
	default:
		return invalid("alert: WebhookURL must use https")
	}
	if len(c.WebhookSecret) < MinSecretLen {
		return invalid("alert: WebhookSecret must be at least %d bytes", MinSecretLen)
	}
	return nil
}

func (c Config) validateSMTP() error {
	if c.SMTPAddr == "" {
		if c.SMTPFrom != "" || len(c.SMTPTo) > 0 || c.SMTPUsername != "" || c.SMTPPassword != "" {
			return invalid("alert: SMTP settings are given but SMTPAddr is empty")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(c.SMTPAddr)
	if err != nil || host == "" || hasCRLF(c.SMTPAddr) {
		return invalid("alert: SMTPAddr must be host:port")
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return invalid("alert: SMTPAddr must be host:port with a port number")
	}
	if _, err := parseAddress("SMTPFrom", c.SMTPFrom); err != nil {
		return err
	}
	if len(c.SMTPTo) == 0 {
		return invalid("alert: SMTPTo needs at least one address")
	}
	if len(c.SMTPTo) > 50 {
		return invalid("alert: SMTPTo allows at most 50 addresses; use a list address")
	}
	for i, to := range c.SMTPTo {
		if _, err := parseAddress(fmt.Sprintf("SMTPTo[%d]", i), to); err != nil {
			return err
		}
	}
	if hasCRLF(c.SMTPUsername) || hasCRLF(c.SMTPPassword) {
		return invalid("alert: SMTPUsername and SMTPPassword must not contain CR or LF")
	}
	if c.SMTPPassword != "" && c.SMTPUsername == "" {
		return invalid("alert: SMTPPassword is set without SMTPUsername")
	}
	if c.SMTPUsername != "" && !c.SMTPRequireTLS && !isLoopback(host) {
		return invalid("alert: SMTPUsername needs SMTPRequireTLS so that the password never crosses the network in clear")
	}
	return nil
}

// parseAddress parses one RFC 5322 address. The error names the field but
// not the value, which may be a half-typed secret in the wrong field.
func parseAddress(field, s string) (*mail.Address, error) {
	if hasCRLF(s) {
		return nil, invalid("alert: %s must not contain CR or LF", field)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, invalid("alert: %s is not an e-mail address", field)
	}
	return a, nil
}

// String describes c with its secrets redacted and the webhook URL cut to
// its host, for the operator's log.
func (c Config) String() string {
	var parts []string
	if c.WebhookURL != "" {
		host := "?"
		if u, err := url.Parse(c.WebhookURL); err == nil {
			host = u.Scheme + "://" + u.Host
		}
		parts = append(parts, "webhook="+host+"/[redacted]", "webhook_secret=[redacted]")
	}
	if c.SMTPAddr != "" {
		parts = append(parts, "smtp="+c.SMTPAddr, "from="+c.SMTPFrom, "to="+strings.Join(c.SMTPTo, ","),
			"require_tls="+strconv.FormatBool(c.SMTPRequireTLS))
		if c.SMTPUsername != "" {
			parts = append(parts, "smtp_user="+c.SMTPUsername, "smtp_password=[redacted]")
		}
	}
	if c.Syslog {
		dest := "local"
		if c.SyslogAddr != "" {
			dest = c.SyslogNetwork + ":" + c.SyslogAddr
		}
		parts = append(parts, "syslog="+dest)
	}
	if len(parts) == 0 {
		return "alert{off}"
	}
	return "alert{" + strings.Join(parts, " ") + "}"
}

func invalid(format string, args ...any) error {
	return hush.Errorf(hush.EINVALID, format, args...)
}

func hasCRLF(s string) bool { return strings.ContainsAny(s, "\r\n") }

// isLoopback reports whether host (without port or brackets) is a loopback
// address or the name localhost.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
