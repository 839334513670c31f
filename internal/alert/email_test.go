package alert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"github.com/hushepr/hush/internal/alert/alerttest"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func smtpConfig(relay *alerttest.SMTPServer, log *logRecorder) Config {
	return Config{
		SMTPAddr: relay.Addr(),
		SMTPFrom: "Hush <hush@clinic.example>",
		SMTPTo:   []string{"security@clinic.example", "Clinic IT <it@clinic.example>"},
		Logger:   log.logger(),
		Retry:    []time.Duration{0, 10 * time.Millisecond},
		Timeout:  5 * time.Second,
	}
}

// oneMessage parses the only message the relay got.
func oneMessage(t *testing.T, relay *alerttest.SMTPServer) (alerttest.Message, *mail.Message, map[string]string) {
	t.Helper()
	msgs := relay.Messages()
	if len(msgs) != 1 {
		t.Fatalf("relay got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.BareLF {
		t.Error("a line of the message ended in a bare LF")
	}
	parsed, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, m.Data)
	}
	var body io.Reader = parsed.Body
	if parsed.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, l := range strings.Split(string(b), "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return m, parsed, fields
}

var wantHeaders = []string{
	"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "From",
	"Message-Id", "Mime-Version", "Subject", "To",
}

func TestEmail(t *testing.T) {
	log := &logRecorder{}
	relay := alerttest.StartSMTP(t, nil)
	n := newNotifier(t, smtpConfig(relay, log))

	n.Send(sample())
	closeNotifier(t, n)

	m, msg, fields := oneMessage(t, relay)
	if m.From != "hush@clinic.example" {
		t.Errorf("MAIL FROM = %q", m.From)
	}
	if want := []string{"security@clinic.example", "it@clinic.example"}; !slices.Equal(m.To, want) {
		t.Errorf("RCPT TO = %q, want %q", m.To, want)
	}
	var names []string
	for k := range msg.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	if !slices.Equal(names, wantHeaders) {
		t.Errorf("headers %v, want %v", names, wantHeaders)
	}
	h := msg.Header
	for name, want := range map[string]string{
		"Subject":                   "[Hush] critical: volume.charts",
		"From":                      `"Hush" <hush@clinic.example>`,
		"Mime-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "7bit",
		"Auto-Submitted":            "auto-generated",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "security@clinic.example" || to[1].Name != "Clinic IT" {
		t.Errorf("To = %v (%v)", to, err)
	}
	if d, err := h.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date = %v (%v)", d, err)
	}
	if id := h.Get("Message-Id"); !regexp.MustCompile(`^<[A-Z2-7]{20,}@clinic\.example>$`).MatchString(id) {
		t.Errorf("Message-ID = %q", id)
	}
	for k, want := range map[string]string{
		"Summary":     "An account opened more charts than its limit allows.",
		"Kind":        "volume.charts",
		"Severity":    "critical",
		"Alert ID":    "alr_7Q2M4K",
		"Account":     "acc_X9F3P1",
		"Count":       "31",
		"Limit":       "30",
		"Window":      "10m0s",
		"At":          "2026-03-14T07:26:53Z",
		"Frozen":      "yes",
		"Audit index": "4711",
	} {
		if fields[k] != want {
			t.Errorf("body %s = %q, want %q", k, fields[k], want)
		}
	}
}

func TestEmailInjection(t *testing.T) {
	log := &logRecorder{}
	relay := alerttest.StartSMTP(t, nil)
	n := newNotifier(t, smtpConfig(relay, log))

	a := sample()
	a.ID = "alr_1\r\nBcc: mallory@evil.example"
	a.Kind = "canary.open\r\nBcc: mallory@evil.example"
	a.Severity = "critical\nX-Evil: 1"
	a.Account = "acc_1\r\n\r\nforged body"
	a.Summary = "Canary record opened\r\n.\r\nMAIL FROM:<mallory@evil.example>\r\nRCPT TO:<mallory@evil.example>"
	n.Send(a)
	closeNotifier(t, n)

	m, msg, fields := oneMessage(t, relay)
	if want := []string{"security@clinic.example", "it@clinic.example"}; !slices.Equal(m.To, want) {
		t.Errorf("RCPT TO = %q, want %q", m.To, want)
	}
	var names []string
	for k := range msg.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	if !slices.Equal(names, wantHeaders) {
		t.Errorf("headers %v, want exactly %v", names, wantHeaders)
	}
	// Every raw header line is a known header or the folded To.
	head, _, _ := strings.Cut(m.Data, "\r\n\r\n")
	known := regexp.MustCompile(`^(Date|From|To|Subject|Message-ID|Auto-Submitted|MIME-Version|Content-Type|Content-Transfer-Encoding): `)
	for _, l := range strings.Split(head, "\r\n") {
		if !known.MatchString(l) && !strings.HasPrefix(l, " ") {
			t.Errorf("unexpected header line %q", l)
		}
	}
	if got, want := msg.Header.Get("Subject"), "[Hush] critical: canary.open__Bcc:_mallory_evil.example"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	for k, want := range map[string]string{
		"Alert ID": "alr_1__Bcc:_mallory_evil.example",
		"Account":  "acc_1____forged_body",
		"Severity": "critical",
		"Summary":  "Canary record opened  .  MAIL FROM:<mallory@evil.example>  RCPT TO:<mallory@evil.example>",
	} {
		if fields[k] != want {
			t.Errorf("body %s = %q, want %q", k, fields[k], want)
		}
	}
	if w := log.find("alert fields had characters outside the allowed set; replaced"); len(w) != 1 {
		t.Errorf("replacement warning logged %d times, want 1", len(w))
	}
}

func TestEmailUTF8Summary(t *testing.T) {
	log := &logRecorder{}
	relay := alerttest.StartSMTP(t, nil)
	n := newNotifier(t, smtpConfig(relay, log))

	a := sample()
	a.Summary = "Tili jäädytettiin: liian monta potilaskorttia avattu."
	n.Send(a)
	closeNotifier(t, n)

	_, msg, fields := oneMessage(t, relay)
	if cte := msg.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Errorf("Content-Transfer-Encoding = %q, want quoted-printable", cte)
	}
	if fields["Summary"] != a.Summary {
		t.Errorf("Summary = %q, want %q", fields["Summary"], a.Summary)
	}
}

func TestEmailMessageRefusesCRLF(t *testing.T) {
	// clean removes CR and LF before message is called; this checks the
	// last guard on its own.
	from, _ := mail.ParseAddress("hush@clinic.example")
	m := &mailer{from: from, to: []*mail.Address{from}, now: time.Now}
	a := sample()
	a.Kind = "canary.open\r\nBcc: mallory@evil.example"
	if _, err := m.message(a); err == nil || !strings.Contains(err.Error(), "Subject") {
		t.Errorf("message = %v, want an error naming Subject", err)
	}
}

func TestEmailSTARTTLSAndAuth(t *testing.T) {
	cert, roots := testCert(t)
	log := &logRecorder{}
	relay := alerttest.StartSMTP(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	cfg := smtpConfig(relay, log)
	cfg.SMTPTLS = &tls.Config{RootCAs: roots}
	cfg.SMTPRequireTLS = true
	cfg.SMTPUsername = "hush-relay"
	cfg.SMTPPassword = "relay-password"
	n := newNotifier(t, cfg)

	n.Send(sample())
	closeNotifier(t, n)

	m, _, _ := oneMessage(t, relay)
	if !m.TLS || m.User != "hush-relay" || m.Pass != "relay-password" {
		t.Errorf("tls=%v user=%q pass=%q, want TLS and the configured credentials", m.TLS, m.User, m.Pass)
	}
	if strings.Contains(log.text(), "relay-password") {
		t.Error("the SMTP password reached the operator log")
	}
}

func TestEmailRequireTLSRefusesPlainRelay(t *testing.T) {
	log := &logRecorder{}
	relay := alerttest.StartSMTP(t, nil)
	cfg := smtpConfig(relay, log)
	cfg.SMTPRequireTLS = true
	n := newNotifier(t, cfg)

	n.Send(sample())
	closeNotifier(t, n)

	if msgs := relay.Messages(); len(msgs) != 0 {
		t.Errorf("relay got %d messages over a plain connection", len(msgs))
	}
	lost := log.find("alert not delivered")
	if len(lost) != 1 || !strings.Contains(lost[0].attrs["err"], "STARTTLS") {
		t.Errorf("not-delivered log = %+v, want one naming STARTTLS", lost)
	}
}

func TestEmailUntrustedRelayCertificate(t *testing.T) {
	cert, _ := testCert(t)
	log := &logRecorder{}
	relay := alerttest.StartSMTP(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	cfg := smtpConfig(relay, log)
	cfg.SMTPTLS = &tls.Config{RootCAs: x509.NewCertPool()} // trusts nothing
	n := newNotifier(t, cfg)

	n.Send(sample())
	closeNotifier(t, n)

	if msgs := relay.Messages(); len(msgs) != 0 {
		t.Errorf("relay got %d messages despite an untrusted certificate", len(msgs))
	}
	if lost := log.find("alert not delivered"); len(lost) != 1 {
		t.Errorf("not-delivered log = %+v, want one", lost)
	}
}

// testCert makes a self-signed certificate for 127.0.0.1 and a pool that
// trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "relay.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
