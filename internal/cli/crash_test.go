package cli_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/store"
)

// startProcess runs hush serve as a separate process (this test binary in
// HUSH_TEST_MAIN mode) so that it can be killed with SIGKILL.
func (f *fixture) startProcess() *exec.Cmd {
	f.t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--data", f.data, "--kek-file", f.kek, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "HUSH_TEST_MAIN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "serving "); ok {
				line <- s
			}
		}
	}()
	select {
	case f.url = <-line:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		f.t.Fatal("server process did not start")
	}
	return cmd
}

// TestKill9DuringNoteWrites: while clients stream note writes, the server
// is killed with SIGKILL; after restart every acknowledged note is there.
func TestKill9DuringNoteWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test")
	}
	f := newFixture(t, "doc@test.hush=clinician")
	f.client = f.httpClient()
	cmd := f.startProcess()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Niemi", "Onni", makeHETU(9, 9, 1999, 909), "+358 40 909 0909")))
	pid := p["id"].(string)

	var mu sync.Mutex
	acked := map[string]string{} // note id -> text
	var sent atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				text := fmt.Sprintf("worker %d note %d", w, i)
				sent.Add(1)
				r, err := f.tryDo("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", text))
				if err != nil {
					return // the server died mid-request: not acknowledged
				}
				if r.status == 201 {
					mu.Lock()
					acked[r.json()["id"].(string)] = text
					mu.Unlock()
				}
			}
		}(w)
	}
	// Let writes flow, then kill without warning.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 150 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	close(stop)
	wg.Wait()
	if len(acked) < 10 {
		t.Fatalf("only %d notes acknowledged before the kill", len(acked))
	}
	t.Logf("%d notes sent, %d acknowledged before kill -9", sent.Load(), len(acked))

	// Restart: the database opens, passes its integrity check, and holds
	// every acknowledged note, readable by its clinician.
	cl := f.open()
	defer cl.Close()
	ctx := context.Background()
	ok, err := cl.DB().Pragma(ctx, "integrity_check")
	if err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q %v", ok, err)
	}
	a, err := cl.SignIn(ctx, "doc@test.hush", []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	actx := hush.WithActor(ctx, a)
	for id, text := range acked {
		n, err := cl.Note(actx, id, 0)
		if err != nil {
			t.Errorf("acknowledged note %s lost: %v", id, err)
			continue
		}
		if n.Text != text {
			t.Errorf("note %s reads %q, want %q", id, n.Text, text)
		}
	}
	// Every acknowledged note has its audit event, and the log verifies.
	evs, err := cl.Audit().Search(ctx, store.AuditQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	signed := map[string]bool{}
	for _, ev := range evs {
		if ev.Action == audit.ActNoteSign {
			signed[strings.TrimSuffix(strings.TrimPrefix(ev.Entity, "DocumentReference/"), "/_history/1")] = true
		}
	}
	for id := range acked {
		if !signed[id] {
			t.Errorf("acknowledged note %s has no audit event", id)
		}
	}
	if out := f.run("audit", "verify", "--data", f.data); !strings.Contains(out, "audit log verified") {
		t.Fatalf("verify after kill -9: %s", out)
	}
	// And the server starts again on the same data.
	cmd = f.startProcess()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	f.must(200, f.do("doc@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+pid, nil))
}
