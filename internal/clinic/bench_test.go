package clinic_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/hushepr/hush/internal/api"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
)

// benchChartReads runs 32 concurrent clients reading 20-note charts over
// HTTPS on loopback, with read auditing on (the product) or replaced by a
// no-op (for comparison only).
func benchChartReads(b *testing.B, audited bool) {
	ctx := context.Background()
	c, _, err := clinic.Init(ctx, b.TempDir(), seal.NewTestKEK(), clinic.InitOptions{Name: "B", AdminEmail: "admin@x.fi", AdminName: "A", AdminPassword: []byte("correct horse battery")})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.UpdateSettings(ctx, benchSettings()); err != nil {
		b.Fatal(err)
	}
	if !audited {
		clinic.DisableReadAuditForBenchmark(c)
	}
	c.AddUser(ctx, clinic.NewUser{Email: "doc@x.fi", Name: "Doc", Role: hush.RoleClinician, Password: []byte("correct horse battery")})
	a, err := c.SignIn(ctx, "doc@x.fi", []byte("correct horse battery"))
	if err != nil {
		b.Fatal(err)
	}
	actx := hush.WithActor(ctx, a)
	var pids []string
	for i := 0; i < 32; i++ {
		p, err := c.CreatePatient(actx, hush.Patient{Family: fmt.Sprint("P", i), BirthDate: "1990-01-01"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		pids = append(pids, p.ID)
		for j := 0; j < 20; j++ {
			c.CreateNote(actx, p.ID, clinic.NoteInput{Kind: hush.KindSOAP, Status: hush.StatusSigned, Text: fmt.Sprintf("%d %s", j, make([]byte, 1024))})
		}
	}
	tok, err := c.CreateToken(ctx, "doc@x.fi", []byte("correct horse battery"), 0)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api.New(c, slog.New(slog.NewTextHandler(io.Discard, nil))))
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	var next, failed atomic.Int64
	b.SetParallelism(16) // 2 cores x 16 = 32 clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		pid := pids[next.Add(1)%int64(len(pids))]
		for pb.Next() {
			req, _ := http.NewRequest("GET", srv.URL+"/fhir/R4/DocumentReference?patient="+pid, nil)
			req.Header.Set("Authorization", "Bearer "+tok.Secret)
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d requests failed", failed.Load())
	}
}

// BenchmarkChartReads32Audited and BenchmarkChartReads32NoAudit compare
// throughput (ns/op is per request across all clients): the audited run
// must reach at least 70% of the other's throughput.
func BenchmarkChartReads32Audited(b *testing.B) { benchChartReads(b, true) }
func BenchmarkChartReads32NoAudit(b *testing.B) { benchChartReads(b, false) }

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

// BenchmarkOpen2000Patients measures what opening a clinic costs with the
// integrity checks: every user row's state MAC, every record head against
// its directory entry, and the generations anchored in the audit log (one
// anchor event per patient and per user change, replayed at open).
func BenchmarkOpen2000Patients(b *testing.B) {
	ctx := context.Background()
	dir, kek := b.TempDir(), seal.NewTestKEK()
	c, _, err := clinic.Init(ctx, dir, kek, clinic.InitOptions{Name: "B", AdminEmail: "admin@x.fi", AdminName: "A", AdminPassword: []byte("correct horse battery"), Canaries: -1})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 20 {
		if _, err := c.AddUser(ctx, clinic.NewUser{Email: fmt.Sprintf("doc%d@x.fi", i), Name: "Doc", Role: hush.RoleClinician, Password: []byte("correct horse battery")}); err != nil {
			b.Fatal(err)
		}
	}
	a, err := c.SignIn(ctx, "doc0@x.fi", []byte("correct horse battery"))
	if err != nil {
		b.Fatal(err)
	}
	actx := hush.WithActor(ctx, a)
	for i := range 2000 {
		if _, err := c.CreatePatient(actx, hush.Patient{Family: fmt.Sprint("P", i), BirthDate: "1990-01-01"}, nil); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	for b.Loop() {
		c, err := clinic.Open(ctx, dir, kek)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
