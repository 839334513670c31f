//go:build !windows && !plan9

package alert

import (
	"io/fs"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/hush"
)

func TestSyslog(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	log := &logRecorder{}
	n := newNotifier(t, Config{
		Syslog:        true,
		SyslogNetwork: "udp",
		SyslogAddr:    pc.LocalAddr().String(),
		Logger:        log.logger(),
	})

	crit := sample()
	warn := sample()
	warn.ID, warn.Kind, warn.Severity, warn.Frozen = "alr_W1", "offhours", Warning, false
	n.Send(crit)
	n.Send(warn)
	closeNotifier(t, n)

	want := []struct{ pri, line string }{
		// facility auth (4) * 8 + crit (2) = 34; + warning (4) = 36
		{"<34>", "hush alert id=alr_7Q2M4K kind=volume.charts severity=critical account=acc_X9F3P1 count=31 limit=30 frozen=true window_seconds=600 audit_index=4711 at=2026-03-14T07:26:53Z summary=\"An account opened more charts than its limit allows.\""},
		{"<36>", "hush alert id=alr_W1 kind=offhours severity=warning account=acc_X9F3P1 count=31 limit=30 frozen=false"},
	}
	buf := make([]byte, 64<<10)
	for _, w := range want {
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no syslog packet: %v", err)
		}
		got := string(buf[:k])
		if !strings.HasPrefix(got, w.pri) || !strings.Contains(got, " hush[") || !strings.Contains(got, "]: "+w.line) {
			t.Errorf("syslog packet\n%q\nwant priority %s, tag hush and\n%q", got, w.pri, w.line)
		}
		if strings.Count(strings.TrimSuffix(got, "\n"), "\n") != 0 {
			t.Errorf("syslog packet has more than one line: %q", got)
		}
	}
}

func TestSyslogLocalMissing(t *testing.T) {
	for _, p := range []string{"/dev/log", "/var/run/syslog", "/var/run/log"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&fs.ModeSocket != 0 {
			t.Skipf("%s is a socket; this test needs a machine without a local syslog", p)
		}
	}
	_, err := New(Config{Syslog: true})
	if hush.ErrorCode(err) != hush.EUNAVAILABLE || !strings.Contains(hush.ErrorMessage(err), "/dev/log") {
		t.Errorf("New = %v, want EUNAVAILABLE naming /dev/log", err)
	}
}
