package alert

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"
)

// Notice tells an account holder that something changed on their own
// account: a security key added or removed, a new password or second
// factor, an enrolment code issued, a freeze. Like an Alert it carries no
// patient data and no clinical word: a kind, the account's random id, a
// time, and (for an enrolment code sent by e-mail) the code itself.
type Notice struct {
	Kind    string    // one of the Notice kinds below
	Account string    // the account's random id
	At      time.Time // when it happened
	Code    string    // an enrolment code delivered by this message, or ""
	Expires time.Time // the code's expiry
}

// Notice kinds, each with a fixed English sentence (noticeText).
const (
	NoticeKeyAdded      = "securitykey.add"
	NoticeKeyRemoved    = "securitykey.remove"
	NoticePassword      = "password.change"
	NoticeSecondFactor  = "mfa.enroll"
	NoticeMFAReset      = "mfa.reset"
	NoticeEnrolmentCode = "enrolment.code"
	NoticeFrozen        = "account.freeze"
)

var noticeText = map[string]string{
	NoticeKeyAdded:      "A security key or passkey was added to your Hush account.",
	NoticeKeyRemoved:    "A security key or passkey was removed from your Hush account.",
	NoticePassword:      "The password of your Hush account was changed.",
	NoticeSecondFactor:  "A new authenticator app (second sign-in step) was set up for your Hush account.",
	NoticeMFAReset:      "An administrator reset the second sign-in step of your Hush account. A one-time enrolment code is needed to set up a new one.",
	NoticeEnrolmentCode: "A one-time enrolment code was issued for your Hush account. It is needed, with your password, to finish your first sign-in.",
	NoticeFrozen:        "Your Hush account was frozen after a security alert. It works again once an administrator has reviewed it.",
}

// Postman delivers Notices to account holders through the clinic's SMTP
// relay, one message per holder, queued and retried like alerts (never on
// the request path). Its methods are safe for concurrent use.
type Postman struct {
	m       *mailer
	log     *slog.Logger
	retry   []time.Duration
	timeout time.Duration
	queue   chan posted
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.RWMutex
	closed bool
}

type posted struct {
	to *mail.Address
	n  Notice
}

// NewPostman returns a Postman sending through cfg's relay, or nil when
// cfg has no relay (SMTPAddr empty). It validates cfg as New does.
func NewPostman(cfg Config) (*Postman, error) {
	if cfg.SMTPAddr == "" {
		return nil, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Postman{}
	var err error
	if p.m, err = newMailer(cfg, time.Now); err != nil {
		return nil, err
	}
	var size int
	p.log, p.retry, p.timeout, size = cfg.delivery()
	p.queue = make(chan posted, size)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.run()
	return p, nil
}

// Send queues n for the holder at address to and reports whether it was
// queued (false: a bad address, a full queue or a closed Postman; the
// operator's log says which, by kind and account id only).
func (p *Postman) Send(to string, n Notice) bool {
	n.Kind, n.Account = token(n.Kind), token(n.Account)
	if n.At.IsZero() {
		n.At = time.Now()
	}
	if noticeText[n.Kind] == "" {
		p.log.Error("notice dropped: unknown kind", "kind", n.Kind, "account", n.Account)
		return false
	}
	addr, err := parseAddress("to", to)
	if err != nil {
		p.log.Error("notice dropped: the holder's address does not parse", "kind", n.Kind, "account", n.Account)
		return false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.log.Error("notice dropped: postman closed", "kind", n.Kind, "account", n.Account)
		return false
	}
	select {
	case p.queue <- posted{to: addr, n: n}:
		return true
	default:
		p.log.Error("notice dropped: queue full", "kind", n.Kind, "account", n.Account)
		return false
	}
}

// Close stops accepting notices and waits for the queued ones until ctx
// ends.
func (p *Postman) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		p.cancel()
		return nil
	case <-ctx.Done():
		p.cancel()
		<-done
		return errors.New("alert: postman stopped with notices undelivered")
	}
}

func (p *Postman) run() {
	defer p.wg.Done()
	for j := range p.queue {
		m := *p.m
		m.to = []*mail.Address{j.to}
		msg, err := m.notice(j.n)
		for i, d := range p.retry {
			if err != nil || !sleep(p.ctx, d) {
				break
			}
			ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
			err = m.deliver(ctx, msg)
			cancel()
			if err == nil {
				p.log.Info("notice delivered", "kind", j.n.Kind, "account", j.n.Account, "attempt", i+1)
				break
			}
			p.log.Warn("notice delivery attempt failed", "kind", j.n.Kind, "account", j.n.Account, "attempt", i+1, "err", err)
		}
		if err != nil {
			p.log.Error("notice not delivered", "kind", j.n.Kind, "account", j.n.Account, "err", err)
		}
	}
}

// notice builds the message for n to m.to (one holder).
func (m *mailer) notice(n Notice) ([]byte, error) {
	domain := m.from.Address[strings.LastIndexByte(m.from.Address, '@')+1:]
	var body strings.Builder
	body.WriteString(noticeText[n.Kind] + "\r\n\r\n")
	fmt.Fprintf(&body, "%-9s %s\r\n", "Account:", n.Account)
	fmt.Fprintf(&body, "%-9s %s\r\n", "At:", n.At.UTC().Format(time.RFC3339))
	if n.Code != "" {
		fmt.Fprintf(&body, "%-9s %s\r\n", "Code:", token(n.Code))
		fmt.Fprintf(&body, "%-9s %s\r\n", "Valid to:", n.Expires.UTC().Format(time.RFC3339))
		body.WriteString("\r\nKeep the code to yourself. Sign in with the password you were given, then enter this code.\r\n")
	}
	body.WriteString("\r\nIf this was not you, tell the clinic's administrator at once.\r\n")
	body.WriteString("This message carries no patient data.\r\n")
	headers := [][2]string{
		{"Date", m.now().Format(time.RFC1123Z)},
		{"From", m.from.String()},
		{"To", m.to[0].String()},
		{"Subject", "[Hush] Your account: " + n.Kind},
		{"Message-ID", "<" + rand.Text() + "@" + domain + ">"},
		{"Auto-Submitted", "auto-generated"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "7bit"},
	}
	var b bytes.Buffer
	for _, h := range headers {
		if hasCRLF(h[1]) {
			return nil, fmt.Errorf("mail header %s would contain CR or LF", h[0])
		}
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body.String())
	return b.Bytes(), nil
}
