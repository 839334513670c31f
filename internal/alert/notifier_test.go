package alert

import (
	"context"
	"errors"
	"fmt"
	"github.com/hushepr/hush/internal/alert/alerttest"
	"strings"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/hush"
)

func TestSendNeverBlocks(t *testing.T) {
	log := &logRecorder{}
	rc := newReceiver()
	rc.stall = make(chan struct{})
	cfg := startReceiver(t, rc, log)
	cfg.QueueSize = 2
	cfg.Retry = []time.Duration{0}
	n := newNotifier(t, cfg)

	alert := func(i int) Alert {
		a := sample()
		a.ID = fmt.Sprintf("alr_%d", i)
		return a
	}
	n.Send(alert(0))
	rc.waitArrival(t) // the worker is now stuck in alr_0's request

	start := time.Now()
	for i := 1; i <= 10; i++ {
		n.Send(alert(i))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("10 Sends to a stalled receiver took %v", d)
	}

	dropped := log.find("alert dropped: queue full")
	var ids []string
	for _, r := range dropped {
		ids = append(ids, r.attrs["alert_id"])
		if r.attrs["channel"] != "webhook" {
			t.Errorf("drop logged for channel %q, want webhook", r.attrs["channel"])
		}
	}
	if want := "alr_3 alr_4 alr_5 alr_6 alr_7 alr_8 alr_9 alr_10"; strings.Join(ids, " ") != want {
		t.Errorf("dropped %v, want %s", ids, want)
	}

	close(rc.stall)
	closeNotifier(t, n)
	alerts, _, _ := rc.got()
	var got []string
	for _, a := range alerts {
		got = append(got, a["id"].(string))
	}
	if strings.Join(got, " ") != "alr_0 alr_1 alr_2" {
		t.Errorf("delivered %v, want alr_0 alr_1 alr_2", got)
	}
}

func TestCloseDrains(t *testing.T) {
	log := &logRecorder{}
	rc := newReceiver()
	cfg := startReceiver(t, rc, log)
	relay := alerttest.StartSMTP(t, nil)
	cfg.SMTPAddr = relay.Addr()
	cfg.SMTPFrom = "hush@clinic.example"
	cfg.SMTPTo = []string{"security@clinic.example"}
	n := newNotifier(t, cfg)

	const count = 20
	for i := range count {
		a := sample()
		a.ID = fmt.Sprintf("alr_%d", i)
		n.Send(a)
	}
	closeNotifier(t, n)

	alerts, _, _ := rc.got()
	if len(alerts) != count {
		t.Errorf("webhook got %d alerts, want %d", len(alerts), count)
	}
	if msgs := relay.Messages(); len(msgs) != count {
		t.Errorf("relay got %d messages, want %d", len(msgs), count)
	}
	if lost := log.find("alert not delivered"); len(lost) != 0 {
		t.Errorf("not delivered: %+v", lost)
	}

	// After Close, Send drops and says so; it must not panic on the
	// closed queues.
	n.Send(sample())
	if d := log.find("alert dropped: notifier closed"); len(d) != 1 {
		t.Errorf("closed-drop log = %+v, want one record", d)
	}
	if err := n.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestCloseGivesUp(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*receiver, *Config)
	}{
		{"receiver stalls", func(rc *receiver, cfg *Config) {
			rc.stall = make(chan struct{}) // never closed
			cfg.Retry = []time.Duration{0}
			cfg.Timeout = time.Minute
		}},
		{"long backoff", func(rc *receiver, cfg *Config) {
			rc.respond = func(int) int { return 500 }
			cfg.Retry = []time.Duration{0, time.Hour}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &logRecorder{}
			rc := newReceiver()
			cfg := startReceiver(t, rc, log)
			tt.setup(rc, &cfg)
			n := newNotifier(t, cfg)
			for i := range 3 {
				a := sample()
				a.ID = fmt.Sprintf("alr_%d", i)
				n.Send(a)
			}
			rc.waitArrival(t)

			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := n.Close(ctx)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Close took %v after its context ended", d)
			}
			if hush.ErrorCode(err) != hush.EUNAVAILABLE || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Close = %v, want EUNAVAILABLE wrapping DeadlineExceeded", err)
			}
			if !strings.Contains(err.Error(), "3 deliveries unfinished") {
				t.Errorf("Close = %v, want it to count 3 unfinished deliveries", err)
			}
			lost := log.find("alert not delivered")
			if len(lost) != 3 {
				t.Errorf("%d alerts logged as not delivered, want 3: %+v", len(lost), lost)
			}
		})
	}
}

func TestCloseLateContextAfterDrain(t *testing.T) {
	// A context that ends while nothing is left to deliver is not a failure.
	log := &logRecorder{}
	rc := newReceiver()
	n := newNotifier(t, startReceiver(t, rc, log))
	n.Send(sample())
	rc.waitArrival(t)
	for deadline := time.Now().Add(10 * time.Second); len(log.find("alert delivered")) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the alert was not delivered")
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Close(ctx); err != nil {
		t.Errorf("Close with an ended context after everything was delivered = %v", err)
	}
}

func TestNoChannels(t *testing.T) {
	log := &logRecorder{}
	n := newNotifier(t, Config{Logger: log.logger()})
	n.Send(sample())
	closeNotifier(t, n)
	if txt := log.text(); txt != "" {
		t.Errorf("log = %q, want nothing", txt)
	}
}

func TestClean(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a, changed := clean(Alert{
		Kind:     "canary.open\r\nBcc: x@evil.example",
		Account:  "acc 1/ä",
		Summary:  "line one\r\nline two\tand\x00nul\u2028sep\xff",
		Severity: "CRITICAL",
	}, now)
	if !changed {
		t.Error("changed = false")
	}
	want := Alert{
		Kind:     "canary.open__Bcc:_x_evil.example",
		Account:  "acc_1__",
		Summary:  "line one  line two and nul sep\uFFFD",
		Severity: Critical,
		At:       now,
	}
	a.ID, want.ID = "", "" // random
	if a != want {
		t.Errorf("clean =\n%+v, want\n%+v", a, want)
	}

	long, _ := clean(Alert{ID: strings.Repeat("x", 500), Summary: strings.Repeat("ö", 500), Severity: Warning}, now)
	if len(long.ID) != maxToken || len([]rune(long.Summary)) != maxSummary {
		t.Errorf("lengths %d, %d; want %d, %d", len(long.ID), len([]rune(long.Summary)), maxToken, maxSummary)
	}

	if _, changed := clean(sample(), now); changed {
		t.Error("a clean alert was reported as changed")
	}
	if a, _ := clean(Alert{Severity: Warning}, now); len(a.ID) < 20 {
		t.Errorf("empty ID replaced by %q, want a random id", a.ID)
	}
}
