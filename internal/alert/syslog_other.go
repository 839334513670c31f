//go:build windows || plan9

package alert

import (
	"context"
	"errors"
)

// syslogSink stands in where Go has no log/syslog; New then refuses a
// Config with Syslog on.
type syslogSink struct{}

func openSyslog(network, addr string) (*syslogSink, error) {
	return nil, errors.New("log/syslog is not available on this platform")
}

func (s *syslogSink) send(context.Context, Alert) error { return errors.New("no syslog") }

func (s *syslogSink) close() error { return nil }
