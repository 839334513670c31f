// Package alerttest has a real SMTP relay for tests of alert delivery: a
// listener on 127.0.0.1 speaking enough RFC 5321 (and STARTTLS) for Go's
// net/smtp client, recording what it accepts.
package alerttest

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMTPServer is a minimal RFC 5321 server for tests: EHLO/HELO, an
// optional STARTTLS, AUTH PLAIN after TLS, MAIL, RCPT, DATA with
// dot-unstuffing, RSET, NOOP and QUIT. It records each message it accepts.
type SMTPServer struct {
	ln      net.Listener
	tlsConf *tls.Config // nil: STARTTLS not offered

	mu   sync.Mutex
	msgs []Message
	wg   sync.WaitGroup
}

// Message is one message the server accepted.
type Message struct {
	From   string
	To     []string
	Data   string // as sent, unstuffed, lines joined with CRLF
	BareLF bool   // a line ended in LF without CR
	TLS    bool
	User   string
	Pass   string
}

// StartSMTP listens on 127.0.0.1 until the test ends; tlsConf (may be
// nil) offers STARTTLS.
func StartSMTP(t testing.TB, tlsConf *tls.Config) *SMTPServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SMTPServer{ln: ln, tlsConf: tlsConf}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

// Addr is the host:port to relay to.
func (s *SMTPServer) Addr() string { return s.ln.Addr().String() }

// Messages returns the messages accepted so far.
func (s *SMTPServer) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

func (s *SMTPServer) serve(conn net.Conn) {
	defer func() { conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	reply := func(lines ...string) {
		for i, l := range lines {
			sep := " "
			if i < len(lines)-1 {
				sep = "-"
			}
			io.WriteString(conn, l[:3]+sep+l[4:]+"\r\n")
		}
	}
	readLine := func() (string, bool, error) {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", false, err
		}
		crlf := strings.HasSuffix(l, "\r\n")
		return strings.TrimRight(l, "\r\n"), !crlf, nil
	}

	var m Message
	user, pass, isTLS := "", "", false
	reply("220 relay.test ESMTP")
	for {
		line, _, err := readLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ext := []string{"250 relay.test", "250 8BITMIME"}
			if s.tlsConf != nil && !isTLS {
				ext = append(ext, "250 STARTTLS")
			}
			if isTLS {
				ext = append(ext, "250 AUTH PLAIN")
			}
			reply(ext...)
		case "STARTTLS":
			if s.tlsConf == nil || isTLS {
				reply("502 no")
				continue
			}
			reply("220 go ahead")
			tc := tls.Server(conn, s.tlsConf)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, r, isTLS = tc, bufio.NewReader(tc), true
			m = Message{}
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if !isTLS || mech != "PLAIN" || err != nil || len(parts) != 3 {
				reply("535 no")
				continue
			}
			user, pass = parts[1], parts[2]
			reply("235 ok")
		case "MAIL":
			m = Message{From: between(arg, "<", ">"), TLS: isTLS, User: user, Pass: pass}
			reply("250 ok")
		case "RCPT":
			m.To = append(m.To, between(arg, "<", ">"))
			reply("250 ok")
		case "DATA":
			reply("354 go ahead")
			var lines []string
			for {
				l, bare, err := readLine()
				if err != nil {
					return
				}
				m.BareLF = m.BareLF || bare
				if l == "." {
					break
				}
				lines = append(lines, strings.TrimPrefix(l, ".")) // dot-unstuffing
			}
			m.Data = strings.Join(lines, "\r\n") + "\r\n"
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			m = Message{}
			reply("250 queued")
		case "RSET":
			m = Message{}
			reply("250 ok")
		case "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 unknown command")
		}
	}
}

func between(s, open, close string) string {
	_, after, _ := strings.Cut(s, open)
	v, _, _ := strings.Cut(after, close)
	return v
}
