package cli_test

import (
	"context"
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
	hook.waitFor(t, "canary", f.ids["admin@test.hush"])
}
