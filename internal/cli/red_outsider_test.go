package cli_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Red team, role "outsider": attacks on the running server over HTTPS.
// Each test asserts the defended outcome, so it fails while the hole is
// open.

// TestRedCanaryNamedBeforeRefresh: a canary made by another process while
// the server runs (hush canary add --now) is marked in the running server
// only when it next loads new directory entries. Naming the canary's
// first clinician (PUT CareTeam, the first-clinician path) does not load
// them, so an admin who has the new id from the audit log (patient.create
// events, an audit.read that is no canary request) names a clinician and
// the canary silently becomes a treated patient: no trip, no freeze, and
// the canary now sits in a clinician's own list, where opening it freezes
// the clinician instead. The defended outcome: naming a canary's
// clinician trips it, whenever the canary was made.
func TestRedCanaryNamedBeforeRefresh(t *testing.T) {
	f, hook := canaryFixture(t)
	f.serve()
	f.run("canary", "add", "--count", "1", "--now")
	cl := f.open()
	ids, err := cl.Canaries(context.Background())
	cl.Close()
	if err != nil || len(ids) != 1 {
		t.Fatalf("canaries %v: %v", ids, err)
	}
	canary := ids[0]

	// The admin learns the new patient id from the audit log: the newest
	// patient.create event (no directory read, no canary request).
	log := f.must(200, f.do("admin@test.hush", "GET", "/fhir/R4/AuditEvent?_count=50", nil))
	found := false
	for _, e := range log["entry"].([]any) {
		res := e.(map[string]any)["resource"].(map[string]any)
		if res["type"].(map[string]any)["code"] != "patient.create" {
			continue
		}
		for _, en := range res["entity"].([]any) {
			if w, ok := en.(map[string]any)["what"].(map[string]any); ok && w["reference"] == "Patient/"+canary {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("the canary's patient.create is not in the admin's audit page")
	}

	// Naming its first clinician is a request for its record: the trip.
	r := f.do("admin@test.hush", "PUT", "/fhir/R4/CareTeam/"+canary, map[string]any{
		"resourceType": "CareTeam", "status": "active",
		"subject":     map[string]any{"reference": "Patient/" + canary},
		"participant": []any{map[string]any{"member": map[string]any{"reference": "Practitioner/" + f.ids["doc@test.hush"]}}},
	})
	if r.status == 200 {
		t.Errorf("a canary made while the server runs got a care team without a trip: %d %s", r.status, r.body)
	}
	if r.status != 403 {
		t.Fatalf("naming the new canary's clinician: %d %s", r.status, r.body)
	}
	hook.waitKind(t, "canary")
}

// TestRedSigninNameMemory: a stranger with no credentials, from one
// address, sends sign-ins under names of their choosing. The address is
// locked after 30 attempts, but each refused attempt has already been
// counted against the name first (try counts "email:" before "addr:"),
// so every request leaves an entry in the account throttle for 15
// minutes, keyed by the raw name (up to the 4 KiB form, never checked
// against NormalizeEmail's 254 characters), and the throttle prunes only
// expired entries (past 10,000 it scans the whole map on every attempt).
// The defended outcome: what one locked-out address sends costs the
// server bounded memory.
func TestRedSigninNameMemory(t *testing.T) {
	f := newFixture(t)
	f.serve()
	const n, workers = 3000, 6
	pad := strings.Repeat("x", 3900)
	b := f.browser(t, "127.0.0.9")
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	b.c.Jar = nil
	send := func(i int) int {
		resp, err := b.c.PostForm(f.url+"/signin", url.Values{"email": {fmt.Sprintf("%d%s@x.fi", i, pad)}, "password": {"x"}})
		if err != nil {
			t.Error(err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < 40; i++ { // lock the address, warm up
		send(i)
	}
	if st := send(40); st != http.StatusTooManyRequests {
		t.Fatalf("the address is not locked: %d", st)
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if st := send(i); st != http.StatusTooManyRequests {
					t.Errorf("attempt %d: %d", i, st)
				}
			}
		}()
	}
	for i := 100; i < 100+n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	grown := int64(heap()) - int64(before)
	t.Logf("heap grew %d KiB after %d refused sign-ins from one locked address", grown/1024, n)
	if grown > 4<<20 {
		t.Errorf("a locked-out address made the server keep %d MiB for %d refused sign-ins (%d bytes each): memory grows with what a stranger sends",
			grown>>20, n, grown/n)
	}
}

// TestRedContactBidi: names refuse bidirectional overrides and isolates
// ("text that displays other than it reads"), but a patient's contact
// e-mail (and a guardian's) takes them: "aino@\u202Eif.elpmaxe" is shown
// to reception as aino@example.fi while mail goes elsewhere. The
// defended outcome: a contact point with a bidi control is refused like a
// name, with a 400 that names the rule.
func TestRedContactBidi(t *testing.T) {
	f := newFixture(t, "desk@test.hush=reception")
	f.serve()
	for _, v := range []string{"aino@\u202eif.elpmaxe", "aino@\u2067example.fi"} {
		p := intakePatient("Aalto", "Aino", "")
		delete(p, "identifier")
		p["birthDate"] = "1980-01-01"
		p["telecom"] = []any{map[string]any{"system": "email", "value": v}}
		r := f.do("desk@test.hush", "POST", "/fhir/R4/Patient", p)
		if r.status != 400 {
			t.Errorf("a contact e-mail %+q: %d %s, want 400 (bidirectional control)", v, r.status, r.body)
		}
	}
}
