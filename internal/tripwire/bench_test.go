package tripwire_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/tripwire"
)

// BenchmarkAdmit admits chart reads of three events (chart, note, measure)
// for 1000 accounts from parallel goroutines. Each goroutine owns its own
// accounts, so each account's clock runs forward: one request a second per
// account, rotating over 20 patients, inside working hours.
func BenchmarkAdmit(b *testing.B) {
	d := newDetector(b, tripwire.DefaultSettings(), "canary")
	const accounts = 1000
	type acct struct {
		evs [][]tripwire.Event // one request per patient
		n   int
	}
	all := make([]*acct, accounts)
	for i := range all {
		a := &acct{}
		for p := range 20 {
			var req []tripwire.Event
			for _, action := range []string{"chart.read", "note.read", "measure.read"} {
				req = append(req, tripwire.Event{Account: fmt.Sprint("a", i), Role: "clinician",
					Patient: fmt.Sprintf("p%d-%d", i, p), Action: action, Credential: fmt.Sprint("s", i), Addr: "192.0.2.1"})
			}
			a.evs = append(a.evs, req)
		}
		all[i] = a
	}
	start := time.Date(2026, 3, 2, 7, 0, 0, 0, hel) // Monday 07:00: 13 working hours ahead
	var next, bad atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Goroutine g of G = GOMAXPROCS owns accounts g, g+G, g+2G...
		g := int(next.Add(1) - 1)
		var mine []*acct
		for i := g; i < accounts; i += runtime.GOMAXPROCS(0) {
			mine = append(mine, all[i])
		}
		if len(mine) == 0 {
			for pb.Next() {
			}
			return
		}
		i := 0
		for pb.Next() {
			a := mine[i%len(mine)]
			i++
			req := a.evs[a.n%len(a.evs)]
			at := start.Add(time.Duration(a.n) * time.Second)
			a.n++
			for j := range req {
				req[j].Time = at
			}
			if got := d.Admit(req); got.Allowed != len(req) || got.Alerts != nil {
				bad.Add(1)
			}
		}
	})
	b.StopTimer()
	if n := bad.Load(); n > 0 {
		b.Fatalf("%d requests refused or alerted", n)
	}
}
