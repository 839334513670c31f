package alert

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/alert/alerttest"
)

// TestPostman: a notice goes to the holder's address only (not to the
// alert recipients), carries the fixed sentence, the account id and the
// time, and nothing a caller could smuggle into headers; an unknown kind
// or a bad address is dropped and logged by ids.
func TestPostman(t *testing.T) {
	relay := alerttest.StartSMTP(t, nil)
	log := &logRecorder{}
	p, err := NewPostman(smtpConfig(relay, log))
	if err != nil || p == nil {
		t.Fatalf("NewPostman: %v", err)
	}
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	if !p.Send("Holder <holder@clinic.example>", Notice{Kind: NoticeKeyRemoved, Account: "acc1\r\nBcc: evil@x", At: at}) {
		t.Fatal("not queued")
	}
	if !p.Send("holder@clinic.example", Notice{Kind: NoticeEnrolmentCode, Account: "acc1", At: at, Code: "abcde-fghij-klmno-pqrst", Expires: at.Add(72 * time.Hour)}) {
		t.Fatal("not queued")
	}
	if p.Send("holder@clinic.example", Notice{Kind: "note.read", Account: "acc1"}) {
		t.Error("an unknown kind was queued")
	}
	if p.Send("not an address\r\nBcc: x@y", Notice{Kind: NoticeFrozen, Account: "acc1"}) {
		t.Error("a bad address was queued")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := relay.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		if !slices.Equal(m.To, []string{"holder@clinic.example"}) {
			t.Errorf("recipients %v", m.To)
		}
		if strings.Contains(m.Data, "\r\nBcc:") || strings.Contains(m.Data, "\nBcc:") {
			t.Errorf("header injection: %s", m.Data)
		}
		if !strings.Contains(m.Data, "At:       2026-03-01T08:00:00Z") {
			t.Errorf("no time: %s", m.Data)
		}
	}
	if !strings.Contains(msgs[0].Data, noticeText[NoticeKeyRemoved]) || !strings.Contains(msgs[0].Data, "Subject: [Hush] Your account: securitykey.remove\r\n") {
		t.Errorf("key notice: %s", msgs[0].Data)
	}
	if !strings.Contains(msgs[1].Data, "Code:     abcde-fghij-klmno-pqrst") || !strings.Contains(msgs[1].Data, "Valid to: 2026-03-04T08:00:00Z") {
		t.Errorf("code notice: %s", msgs[1].Data)
	}
	if strings.Contains(log.text(), "holder@") {
		t.Errorf("the log names the holder's address: %s", log.text())
	}
	if p, err := NewPostman(Config{}); p != nil || err != nil {
		t.Errorf("no relay: %v %v", p, err)
	}
}
