package alert

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testSecret = "0123456789abcdef0123456789abcdef" // 32 bytes

// logRecorder is a slog.Handler that keeps every record, so tests can
// assert what the operator would see.
type logRecorder struct {
	mu   sync.Mutex
	recs []logRec
}

type logRec struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, logRec{level: r.Level, msg: r.Message, attrs: m})
	return nil
}

// find returns the records with message msg.
func (l *logRecorder) find(msg string) []logRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logRec
	for _, r := range l.recs {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// text returns every record as one string, for "never logged" checks.
func (l *logRecorder) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, r := range l.recs {
		b.WriteString(r.msg)
		for k, v := range r.attrs {
			b.WriteString(" " + k + "=" + v)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (l *logRecorder) logger() *slog.Logger { return slog.New(l) }

// receiver is a webhook endpoint that verifies each request with
// VerifyWebhook, as a clinic's receiver would, and records what it accepts.
type receiver struct {
	secret  []byte
	respond func(attempt int) int // status for the nth request (from 1); nil means 200
	stall   chan struct{}         // if set, each request waits for it to close
	arrived chan struct{}         // gets a value as each request arrives

	mu       sync.Mutex
	attempts int
	rejected int
	alerts   []map[string]any
	headers  []http.Header
}

func newReceiver() *receiver {
	return &receiver{secret: []byte(testSecret), arrived: make(chan struct{}, 100)}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	rc.mu.Lock()
	rc.attempts++
	n := rc.attempts
	rc.mu.Unlock()
	select {
	case rc.arrived <- struct{}{}:
	default:
	}
	if rc.stall != nil {
		select {
		case <-rc.stall:
		case <-r.Context().Done():
			return
		}
	}
	err = VerifyWebhook(rc.secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, time.Now(), time.Minute)
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		rc.mu.Lock()
		rc.rejected++
		rc.mu.Unlock()
		http.Error(w, "rejected", http.StatusUnauthorized)
		return
	}
	status := http.StatusOK
	if rc.respond != nil {
		status = rc.respond(n)
	}
	if status/100 == 2 {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.alerts = append(rc.alerts, m)
		rc.headers = append(rc.headers, r.Header.Clone())
		rc.mu.Unlock()
	}
	w.WriteHeader(status)
}

func (rc *receiver) got() (alerts []map[string]any, attempts, rejected int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]any(nil), rc.alerts...), rc.attempts, rc.rejected
}

// waitArrival waits until the receiver has seen one more request.
func (rc *receiver) waitArrival(t *testing.T) {
	t.Helper()
	select {
	case <-rc.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook request arrived")
	}
}

// startReceiver serves rc over HTTPS on 127.0.0.1 and returns a Config
// pointing at it, with short retries for tests.
func startReceiver(t *testing.T, rc *receiver, log *logRecorder) Config {
	t.Helper()
	ts := httptest.NewTLSServer(rc)
	t.Cleanup(ts.Close)
	return Config{
		WebhookURL:    ts.URL + "/hooks/not-logged-path",
		WebhookSecret: []byte(testSecret),
		WebhookClient: ts.Client(),
		Logger:        log.logger(),
		Retry:         []time.Duration{0, 10 * time.Millisecond, 10 * time.Millisecond},
		Timeout:       5 * time.Second,
	}
}

// newNotifier starts a Notifier that the test's cleanup closes (a second
// Close after the test's own is harmless).
func newNotifier(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n
}

func closeNotifier(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// sample is a realistic alert with no personal data.
func sample() Alert {
	return Alert{
		ID:         "alr_7Q2M4K",
		Kind:       "volume.charts",
		Severity:   Critical,
		Account:    "acc_X9F3P1",
		Summary:    "An account opened more charts than its limit allows.",
		Count:      31,
		Limit:      30,
		Window:     10 * time.Minute,
		At:         time.Date(2026, 3, 14, 9, 26, 53, 0, time.FixedZone("EET", 2*3600)),
		Frozen:     true,
		AuditIndex: 4711,
	}
}
