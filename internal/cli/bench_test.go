package cli_test

import (
	"context"
	"fmt"
	"github.com/hushepr/hush/internal/clinic"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

// percentiles reports p50 and p99 of the per-operation durations.
func percentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkHTTPSNoteCreate: one clinician creating signed 1 KiB notes over
// HTTPS on loopback (keep-alive connection), each acknowledged only after
// its fsync.
func BenchmarkHTTPSNoteCreate(b *testing.B) {
	f := newFixture(b, "doc@test.hush=clinician")
	f.benchSettings()
	f.serve()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Bench", "Mark", makeHETU(1, 1, 1980, 101), "+358 40 000 0000")))
	pid := p["id"].(string)
	body := noteJSON(pid, "SOAP", "final", string(make([]byte, 1024)))
	f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", body) // warm the session
	var d []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		r := f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", body)
		d = append(d, time.Since(t0))
		if r.status != 201 {
			b.Fatalf("status %d", r.status)
		}
	}
	percentiles(b, d)
}

// BenchmarkHTTPSChartRead20: reading a chart of 20 notes (1 KiB each) over
// HTTPS on loopback.
func BenchmarkHTTPSChartRead20(b *testing.B) {
	f := newFixture(b, "doc@test.hush=clinician")
	f.benchSettings()
	f.serve()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Bench", "Mark", makeHETU(1, 1, 1980, 101), "+358 40 000 0000")))
	pid := p["id"].(string)
	for i := 0; i < 20; i++ {
		f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", fmt.Sprintf("%d %s", i, make([]byte, 1024)))))
	}
	var d []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		r := f.do("doc@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+pid, nil)
		d = append(d, time.Since(t0))
		if r.status != 200 {
			b.Fatalf("status %d", r.status)
		}
	}
	percentiles(b, d)
}

// BenchmarkHTTPSNoteCreateParallel: 16 clients writing notes at once, to
// show how SQLite's single writer and fsync per commit scale.
func BenchmarkHTTPSNoteCreateParallel(b *testing.B) {
	f := newFixture(b, "doc@test.hush=clinician")
	f.benchSettings()
	f.serve()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Bench", "Mark", makeHETU(1, 1, 1980, 101), "+358 40 000 0000")))
	pid := p["id"].(string)
	body := noteJSON(pid, "SOAP", "final", string(make([]byte, 1024)))
	var failed atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", body); r.status != 201 {
				failed.Add(1)
			}
		}
	})
	if failed.Load() > 0 {
		b.Fatalf("%d writes failed", failed.Load())
	}
}

// benchSettings keeps the tripwires running (their cost is measured) but
// out of the way of one client reading thousands of times a minute.
func (f *fixture) benchSettings() {
	cl := f.open()
	defer cl.Close()
	s := clinic.DefaultSettings()
	s.ChartLimit, s.DirectoryLimit, s.RateLimit = 100000, 100000, 100000
	for d := range s.Hours {
		s.Hours[d] = "00:00-24:00"
	}
	if err := cl.UpdateSettings(context.Background(), s); err != nil {
		f.t.Fatal(err)
	}
}
