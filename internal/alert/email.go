package alert

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"time"
)

// mailer sends one message per attempt through the clinic's relay.
type mailer struct {
	addr       string // host:port
	host       string // for TLS and AUTH
	helo       string
	from       *mail.Address
	to         []*mail.Address
	username   string
	password   string
	tls        *tls.Config
	requireTLS bool
	now        func() time.Time
}

func newMailer(cfg Config, now func() time.Time) (*mailer, error) {
	host, _, _ := net.SplitHostPort(cfg.SMTPAddr) // Validate checked it
	m := &mailer{
		addr:       cfg.SMTPAddr,
		host:       host,
		helo:       heloName(),
		username:   cfg.SMTPUsername,
		password:   cfg.SMTPPassword,
		requireTLS: cfg.SMTPRequireTLS,
		now:        now,
	}
	var err error
	if m.from, err = parseAddress("SMTPFrom", cfg.SMTPFrom); err != nil {
		return nil, err
	}
	for i, s := range cfg.SMTPTo {
		a, err := parseAddress(fmt.Sprintf("SMTPTo[%d]", i), s)
		if err != nil {
			return nil, err
		}
		m.to = append(m.to, a)
	}
	if cfg.SMTPTLS != nil {
		m.tls = cfg.SMTPTLS.Clone()
	} else {
		m.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if m.tls.ServerName == "" {
		m.tls.ServerName = host
	}
	return m, nil
}

// heloName is this machine's name if it is a plain DNS name, else
// "localhost" (what net/smtp would send).
func heloName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || len(h) > 253 {
		return "localhost"
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return "localhost"
		}
	}
	return h
}

// send makes one attempt: dial, STARTTLS when offered (required if so
// configured), AUTH PLAIN if configured, then one message to all recipients.
func (m *mailer) send(ctx context.Context, a Alert) error {
	msg, err := m.message(a)
	if err != nil {
		return err
	}
	return m.deliver(ctx, msg)
}

// deliver sends one built message to m.to.
func (m *mailer) deliver(ctx context.Context, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return err
	}
	// net/smtp knows no contexts: a deadline bounds a slow relay and
	// closing the connection aborts when Close gives up.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: %w", m.addr, err)
	}
	defer c.Close()
	if err := m.converse(c, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", m.addr, err)
	}
	return nil
}

func (m *mailer) converse(c *smtp.Client, msg []byte) error {
	if err := c.Hello(m.helo); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(m.tls.Clone()); err != nil {
			return err
		}
	} else if m.requireTLS {
		return errors.New("the relay does not offer STARTTLS and SMTPRequireTLS is set")
	}
	if m.username != "" {
		// PlainAuth itself refuses to send the password without TLS
		// unless the relay is on localhost.
		if err := c.Auth(smtp.PlainAuth("", m.username, m.password, m.host)); err != nil {
			return err
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return err
	}
	for _, to := range m.to {
		if err := c.Rcpt(to.Address); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// message builds the RFC 5322 message for a cleaned alert. It refuses a
// header value with CR or LF; after clean none should have one, so this is
// the last guard against header injection rather than the first.
func (m *mailer) message(a Alert) ([]byte, error) {
	domain := m.from.Address[strings.LastIndexByte(m.from.Address, '@')+1:]
	to := make([]string, len(m.to))
	for i, t := range m.to {
		to[i] = t.String()
	}
	body := emailBody(a)
	cte := "7bit"
	if !isASCII(body) {
		cte = "quoted-printable"
	}
	headers := []struct{ name, value string }{
		{"Date", m.now().Format(time.RFC1123Z)},
		{"From", m.from.String()},
		{"To", strings.Join(to, ", ")},
		{"Subject", "[Hush] " + string(a.Severity) + ": " + a.Kind},
		{"Message-ID", "<" + rand.Text() + "@" + domain + ">"},
		{"Auto-Submitted", "auto-generated"}, // RFC 3834: no auto-replies
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", cte},
	}
	var b bytes.Buffer
	for _, h := range headers {
		if hasCRLF(h.value) {
			return nil, fmt.Errorf("mail header %s would contain CR or LF", h.name)
		}
		v := h.value
		if h.name == "To" {
			v = strings.Join(to, ",\r\n ") // fold: one address a line
		}
		b.WriteString(h.name + ": " + v + "\r\n")
	}
	b.WriteString("\r\n")
	if cte == "7bit" {
		b.WriteString(body)
	} else {
		qp := quotedprintable.NewWriter(&b)
		_, _ = qp.Write([]byte(body))
		_ = qp.Close()
	}
	return b.Bytes(), nil
}

// emailBody lists the alert's fields, one "Label: value" a line.
func emailBody(a Alert) string {
	frozen := "no"
	if a.Frozen {
		frozen = "yes"
	}
	lines := [][2]string{
		{"Summary", a.Summary},
		{"Kind", a.Kind},
		{"Severity", string(a.Severity)},
		{"Alert ID", a.ID},
		{"Account", a.Account},
		{"Count", strconv.Itoa(a.Count)},
		{"Limit", strconv.Itoa(a.Limit)},
		{"Window", a.Window.String()},
		{"At", a.At.UTC().Format(time.RFC3339)},
		{"Frozen", frozen},
		{"Audit index", strconv.FormatInt(a.AuditIndex, 10)},
	}
	var b strings.Builder
	b.WriteString("Hush raised a security alert.\r\n\r\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "%-12s %s\r\n", l[0]+":", l[1])
	}
	b.WriteString("\r\nThe audit event at the index above holds the detail; look it up in Hush.\r\n")
	b.WriteString("This message carries no patient data.\r\n")
	return b.String()
}
