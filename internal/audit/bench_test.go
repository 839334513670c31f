package audit_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/store"
)

// fill appends n events in large transactions (setup, not measured).
func (tl *testLog) fill(b *testing.B, n int) {
	b.Helper()
	start := time.Now()
	const chunk = 20000
	for i := 0; i < n; i += chunk {
		err := tl.db.ReadWrite(context.Background(), func(tx *store.Tx) error {
			for j := i; j < i+chunk && j < n; j++ {
				if _, err := tl.log.AppendTx(tx, event(j)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := tl.log.Sign(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Logf("appended %d events in %s", n, time.Since(start).Round(time.Millisecond))
}

func benchSize() int {
	if s := os.Getenv("HUSH_BENCH_EVENTS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	return 1_000_000
}

// BenchmarkVerify1M: hush audit verify over a log of one million events
// (HUSH_BENCH_EVENTS overrides the size).
func BenchmarkVerify1M(b *testing.B) {
	tl := newTestLog(b, "", "")
	defer tl.close()
	n := benchSize()
	tl.fill(b, n)
	b.ResetTimer()
	for b.Loop() {
		res, err := audit.Verify(context.Background(), tl.db, tl.vkey, nil)
		if err != nil || res.Size != int64(n) {
			b.Fatalf("verify: %+v %v", res, err)
		}
	}
}

// BenchmarkProve: an inclusion proof against the latest checkpoint of a
// 100,000-event log, checked.
func BenchmarkProve(b *testing.B) {
	tl := newTestLog(b, "", "")
	defer tl.close()
	tl.fill(b, 100_000)
	i := int64(0)
	b.ResetTimer()
	for b.Loop() {
		if _, err := tl.log.Prove(context.Background(), i%100_000); err != nil {
			b.Fatal(err)
		}
		i += 7919
	}
}

// BenchmarkAppend: one durable audited event at a time (no concurrency: the
// worst case for group commit).
func BenchmarkAppend(b *testing.B) {
	tl := newTestLog(b, "", "")
	defer tl.close()
	i := 0
	for b.Loop() {
		if err := tl.log.Append(context.Background(), event(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkAppendParallel: 32 concurrent appenders sharing commits.
func BenchmarkAppendParallel(b *testing.B) {
	tl := newTestLog(b, "", "")
	defer tl.close()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := tl.log.Append(context.Background(), event(i)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
