//go:build !windows && !plan9

package alert

import (
	"context"
	"log/syslog"
)

// syslogSink writes alerts to syslog as facility auth, tag "hush". The
// log/syslog Writer reconnects by itself once after a failed write; the
// notifier's retries cover the rest.
type syslogSink struct{ w *syslog.Writer }

// openSyslog dials network and addr, or the local syslog socket if both are
// empty.
func openSyslog(network, addr string) (*syslogSink, error) {
	w, err := syslog.Dial(network, addr, syslog.LOG_AUTH|syslog.LOG_WARNING, "hush")
	if err != nil {
		return nil, err
	}
	return &syslogSink{w: w}, nil
}

// send writes one line at priority crit, or warning for a Warning alert.
func (s *syslogSink) send(_ context.Context, a Alert) error {
	if a.Severity == Warning {
		return s.w.Warning(syslogLine(a))
	}
	return s.w.Crit(syslogLine(a))
}

func (s *syslogSink) close() error { return s.w.Close() }
