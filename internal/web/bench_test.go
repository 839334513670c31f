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
