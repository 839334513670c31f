package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hushepr/hush/internal/hush"
)

// Notifier queues alerts and delivers them in the background. Its methods
// are safe for concurrent use.
type Notifier struct {
	log      *slog.Logger
	retry    []time.Duration
	timeout  time.Duration
	now      func() time.Time
	channels []*channel
	closers  []func() error

	// ctx is cancelled when Close stops waiting: it aborts attempts in
	// flight and the waits between them.
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	abandoned atomic.Int64 // deliveries cut short by Close

	mu     sync.RWMutex // guards closed against sends on closed queues
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// channel is one delivery route with its own queue and worker.
type channel struct {
	name  string // "webhook", "email", "syslog": for the operator's log
	queue chan Alert
	send  func(context.Context, Alert) error
}

// New validates cfg, opens the channels it turns on and starts one worker
// per channel. It returns a hush.EINVALID error for a bad cfg and a
// hush.EUNAVAILABLE error when the syslog cannot be reached (for the local
// syslog: no /dev/log). Call Close to stop the workers.
func New(cfg Config) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Notifier{now: time.Now}
	var size int
	n.log, n.retry, n.timeout, size = cfg.delivery()

	// Syslog first: it is the only channel that can fail to open, and
	// nothing has started yet that would need stopping.
	if cfg.Syslog {
		s, err := openSyslog(cfg.SyslogNetwork, cfg.SyslogAddr)
		if err != nil {
			msg := "alert: cannot reach the syslog server"
			if cfg.SyslogAddr == "" {
				msg = "alert: cannot reach the local syslog (no /dev/log?); turn Syslog off or name a server with SyslogNetwork and SyslogAddr"
			}
			return nil, hush.Wrap(hush.EUNAVAILABLE, msg, err)
		}
		n.add("syslog", size, s.send)
		n.closers = append(n.closers, s.close)
	}
	if cfg.WebhookURL != "" {
		n.add("webhook", size, newWebhook(cfg, n.now).send)
	}
	if cfg.SMTPAddr != "" {
		m, err := newMailer(cfg, n.now)
		if err != nil {
			n.closeChannels()
			return nil, err
		}
		n.add("email", size, m.send)
	}

	n.ctx, n.cancel = context.WithCancel(context.Background())
	for _, ch := range n.channels {
		n.wg.Add(1)
		go n.run(ch)
	}
	return n, nil
}

func (n *Notifier) add(name string, size int, send func(context.Context, Alert) error) {
	n.channels = append(n.channels, &channel{name: name, queue: make(chan Alert, size), send: send})
}

// Send queues a for every channel and returns at once: it never blocks on
// the network or on a full queue. A channel whose queue is full drops a,
// and so does every channel after Close; each drop is logged at error level.
func (n *Notifier) Send(a Alert) {
	a, changed := clean(a, n.now())
	if changed {
		n.log.Warn("alert fields had characters outside the allowed set; replaced", attrs(a)...)
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		n.log.Error("alert dropped: notifier closed", attrs(a)...)
		return
	}
	for _, ch := range n.channels {
		select {
		case ch.queue <- a:
		default:
			n.log.Error("alert dropped: queue full", append(attrs(a), "channel", ch.name)...)
		}
	}
}

// Close stops accepting alerts and waits until every queued alert has been
// delivered or has used up its attempts. If ctx ends first, Close aborts the
// attempts in flight and the waits between them, logs the alerts left as not
// delivered, and, if there were any, returns a hush.EUNAVAILABLE error
// wrapping ctx.Err(). Calling Close again waits for the same shutdown.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		for _, ch := range n.channels {
			close(ch.queue)
		}
	}
	n.mu.Unlock()

	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		n.cancel()
		<-done // attempts watch n.ctx, so this is quick
		if k := n.abandoned.Load(); k > 0 {
			err = hush.Wrap(hush.EUNAVAILABLE, fmt.Sprintf("alert: stopped with %d deliveries unfinished", k), ctx.Err())
		}
	}
	n.cancel()
	n.closeOnce.Do(func() { n.closeErr = n.closeChannels() })
	return errors.Join(err, n.closeErr)
}

func (n *Notifier) closeChannels() error {
	var errs []error
	for _, c := range n.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// run delivers ch's queue until Close closes it.
func (n *Notifier) run(ch *channel) {
	defer n.wg.Done()
	for a := range ch.queue {
		n.deliver(ch, a)
	}
}

// deliver tries a on ch up to len(n.retry) times.
func (n *Notifier) deliver(ch *channel, a Alert) {
	var err error
	for i, d := range n.retry {
		if !sleep(n.ctx, d) {
			break
		}
		ctx, cancel := context.WithTimeout(n.ctx, n.timeout)
		err = ch.send(ctx, a)
		cancel()
		if err == nil {
			n.log.Info("alert delivered", append(attrs(a), "channel", ch.name, "attempt", i+1)...)
			return
		}
		if n.ctx.Err() != nil {
			break
		}
		n.log.Warn("alert delivery attempt failed", append(attrs(a), "channel", ch.name, "attempt", i+1, "err", err)...)
	}
	if n.ctx.Err() != nil {
		n.abandoned.Add(1)
		err = errors.Join(err, errors.New("notifier closed before delivery"))
	}
	n.log.Error("alert not delivered", append(attrs(a), "channel", ch.name, "err", err)...)
}

// sleep waits d, and reports false if ctx ended first (or had already).
func sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// attrs identifies a in the operator's log: ids and kinds, no summary.
func attrs(a Alert) []any {
	return []any{"alert_id", a.ID, "kind", a.Kind, "severity", string(a.Severity), "audit_index", a.AuditIndex}
}

// delivery returns the logger, retry schedule, per-attempt timeout and
// queue size of cfg, with the defaults for what it leaves unset.
func (cfg Config) delivery() (log *slog.Logger, retry []time.Duration, timeout time.Duration, size int) {
	log, retry, timeout, size = cfg.Logger, append([]time.Duration(nil), cfg.Retry...), cfg.Timeout, cfg.QueueSize
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if len(retry) == 0 {
		retry = DefaultRetry()
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if size == 0 {
		size = DefaultQueueSize
	}
	return log, retry, timeout, size
}
