package web_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
)

// BenchmarkChartPage100Notes: the server-side render of a chart with 100
// notes (1 KiB each), over HTTPS on loopback, including opening every note
// and making its audit event durable. Reports p50 and the page size.
func BenchmarkChartPage100Notes(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	if err := e.c.UpdateSettings(ctx, benchSettings()); err != nil {
		b.Fatal(err)
	}
	a, _ := e.c.SignIn(ctx, "maria@x.fi", []byte(e.password("maria@x.fi")))
	actx := hush.WithActor(ctx, a)
	for i := 0; i < 99; i++ {
		if _, err := e.c.CreateNote(actx, e.pid, clinic.NoteInput{Kind: hush.KindSOAP, Status: hush.StatusSigned, Title: fmt.Sprint("Session ", i), Text: fmt.Sprintf("%d %s", i, strings.Repeat("Patient described the week; we practised the thought record. ", 16))}); err != nil {
			b.Fatal(err)
		}
	}
	br := e.browser()
	br.signIn("maria@x.fi")
	var d []time.Duration
	size := 0
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		p := br.get("/patients/" + e.pid)
		d = append(d, time.Since(t0))
		if p.status != 200 {
			b.Fatalf("status %d", p.status)
		}
		size = len(p.body)
		e.now = e.now.Add(time.Second) // keep the session alive on the test clock
	}
	b.StopTimer()
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(size)/1024, "page-KiB")
}

// benchSettings keeps the tripwires running (their cost is measured) but
// out of the way of one client reading thousands of times a minute.
func benchSettings() clinic.Settings {
	s := clinic.DefaultSettings()
	s.ChartLimit, s.DirectoryLimit, s.RateLimit = 100000, 100000, 100000
	for d := range s.Hours {
		s.Hours[d] = "00:00-24:00"
	}
	return s
}
