package cli_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// TestBreachDrill writes patients and notes carrying marker strings through
// the API, stops the server, and searches every byte of the data directory
// (database, WAL, logs) and the temporary directory for them. Then, holding
// both the data directory and the KEK, it shows that Hush's own code opens
// the names but no note.
func TestBreachDrill(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // SQLite's and Go's temporary files land here
	f := newFixture(t, "doc@test.hush=clinician")
	f.serve()

	var markers []string
	var patientIDs []string
	for i := 0; i < 5; i++ {
		family := fmt.Sprintf("Zyxmarkfam%d", i)
		given := fmt.Sprintf("Qwmarkgiven%d", i)
		code := makeHETU(10+i, 3, 1987, 400+i)
		phone := fmt.Sprintf("+358 50 777 31%02d", i)
		markers = append(markers, family, given, code, strings.ReplaceAll(phone, " ", ""), phone)
		p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON(family, given, code, phone)))
		id := p["id"].(string)
		patientIDs = append(patientIDs, id)
		// search by name and identifier so those terms pass through the server too
		term := "zyxmarkfa" // a search term is personal data too
		markers = append(markers, term)
		f.must(200, f.do("doc@test.hush", "GET", "/fhir/R4/Patient?name="+term, nil))
		f.must(200, f.do("doc@test.hush", "GET", "/fhir/R4/Patient?identifier=urn:oid:1.2.246.21|"+code, nil))
		for j := 0; j < 3; j++ {
			text := fmt.Sprintf("Notemarker-%d-%d: the patient disclosed Secretmarker%d%d in session", i, j, i, j)
			markers = append(markers, fmt.Sprintf("Notemarker-%d-%d", i, j), fmt.Sprintf("Secretmarker%d%d", i, j))
			markers = append(markers, base64.StdEncoding.EncodeToString([]byte(text))[:24])
			n := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(id, "SOAP", "preliminary", text)))
			signed := noteJSON(id, "SOAP", "final", text)
			f.must(200, f.do("doc@test.hush", "PUT", "/fhir/R4/DocumentReference/"+n["id"].(string), signed))
		}
		f.must(200, f.do("doc@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+id, nil))
	}
	// the markers of an invalid request too
	f.must(400, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Badmarkfamily", "X", "131052-308X", "+358 1")))
	markers = append(markers, "Badmarkfamily", "131052-308X")
	f.shutdown()

	if hits := scanTree(t, markers, f.data, tmp); len(hits) > 0 {
		t.Fatalf("plaintext found on disk:\n%s", strings.Join(hits, "\n"))
	}
	entries, _ := os.ReadDir(f.data)
	if len(entries) == 0 {
		t.Fatal("the data directory is empty: nothing was scanned")
	}
	if _, err := os.Stat(filepath.Join(f.data, "log", "hush.log")); err != nil {
		t.Fatalf("server log missing (it must be scanned too): %v", err)
	}

	// Holding the data directory and the KEK.
	cl := f.open()
	defer cl.Close()
	ctx := context.Background()
	thief := hush.WithActor(ctx, &hush.Actor{UserID: f.ids["doc@test.hush"], Role: hush.RoleClinician})
	ps, err := cl.SearchPatients(thief, clinic.PatientQuery{Name: "zyxmarkfam"})
	if err != nil || len(ps) != 5 {
		t.Fatalf("with the KEK the directory opens: got %d patients, %v", len(ps), err)
	}
	for _, id := range patientIDs {
		if _, err := cl.Chart(thief, id); hush.ErrorCode(err) != hush.EFORBIDDEN {
			t.Errorf("chart without the clinician's credential: err %v, want forbidden", err)
		}
		// A thief with a key pair of their own cannot open any grant either.
		forged, _ := seal.GeneratePrivateKey()
		fctx := hush.WithActor(ctx, &hush.Actor{UserID: f.ids["doc@test.hush"], Role: hush.RoleClinician, Key: forged})
		if _, err := cl.Chart(fctx, id); hush.ErrorCode(err) != hush.EFORBIDDEN {
			t.Errorf("chart with a forged key: err %v, want forbidden", err)
		}
	}
	var grants []store.GrantRow
	cl.DB().Read(ctx, func(tx *store.Tx) error { grants, err = tx.Grants(""); return err })
	if len(grants) != 10 { // 5 patients x (clinician + recovery)
		t.Fatalf("%d grants, want 10", len(grants))
	}
}

// TestAccessControl: reception and admin get 403 on notes and cannot open
// them even with direct access to the store; a clinician outside the care
// team gets 403; a grant lets them in; a revocation shuts them out again.
func TestAccessControl(t *testing.T) {
	f := newFixture(t, "a@test.hush=clinician", "b@test.hush=clinician", "desk@test.hush=reception")
	f.serve()
	// Reception registers a patient for clinician A.
	p := f.must(201, f.do("desk@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Virtanen", "Aino", makeHETU(1, 2, 1990, 123), "+358 40 123 4567", f.ids["a@test.hush"])))
	pid := p["id"].(string)
	// Reception may register a patient before naming a clinician: the
	// record is then the recovery key's alone, and no clinician reaches it.
	w := f.must(201, f.do("desk@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Korhonen", "Eino", makeHETU(2, 2, 1990, 124), "+358 40 123 4568")))
	if r := f.do("a@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(w["id"].(string), "SOAP", "final", "x")); r.status != 403 {
		t.Errorf("a note on a waiting patient's record: status %d, want 403", r.status)
	}
	// Later reception names the first clinician (the record holds no
	// content, so a new epoch is granted to them), and A can write; with
	// content in it, naming another first team is refused (recovery's job).
	wid := w["id"].(string)
	first := map[string]any{"resourceType": "CareTeam", "status": "active", "subject": map[string]any{"reference": "Patient/" + wid},
		"participant": []any{map[string]any{"member": map[string]any{"reference": "Practitioner/" + f.ids["a@test.hush"]}}}}
	f.must(201, f.do("desk@test.hush", "POST", "/fhir/R4/CareTeam", first))
	f.must(201, f.do("a@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(wid, "SOAP", "final", "first session")))
	if r := f.do("desk@test.hush", "PUT", "/fhir/R4/CareTeam/"+wid, first); r.status != 403 {
		t.Errorf("reception changed a held record's care team: status %d, want 403", r.status)
	}
	n := f.must(201, f.do("a@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "DAP", "final", "D: low mood. A: moderate. P: activation.")))
	nid := n["id"].(string)

	for _, who := range []string{"desk@test.hush", "admin@test.hush", "b@test.hush"} {
		for _, path := range []string{"/fhir/R4/DocumentReference/" + nid, "/fhir/R4/DocumentReference?patient=" + pid, "/fhir/R4/DocumentReference/" + nid + "/_history/1"} {
			if r := f.do(who, "GET", path, nil); r.status != 403 {
				t.Errorf("%s GET %s: status %d, want 403", who, path, r.status)
			}
		}
		if r := f.do(who, "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "x")); r.status != 403 {
			t.Errorf("%s POST note: status %d, want 403", who, r.status)
		}
	}
	// Directory data stays visible to reception.
	f.must(200, f.do("desk@test.hush", "GET", "/fhir/R4/Patient/"+pid, nil))

	// Reception and admin cannot open any grant with their own unlocked keys.
	cl := f.open()
	ctx := context.Background()
	var grants []store.GrantRow
	var err error
	cl.DB().Read(ctx, func(tx *store.Tx) error { grants, err = tx.Grants(pid); return err })
	if err != nil || len(grants) != 2 {
		t.Fatalf("grants: %d, %v", len(grants), err)
	}
	for _, who := range []string{"desk@test.hush", "admin@test.hush"} {
		a, err := cl.SignIn(ctx, who, []byte(testPassword))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range grants {
			for _, principal := range []string{g.Principal, "user:" + a.UserID} {
				if _, err := a.Key.OpenGrant(seal.GrantContext{Clinic: cl.ID(), Record: g.PatientID, Epoch: g.Epoch, Principal: principal}, g.Sealed); err == nil {
					t.Errorf("%s opened a grant for %s", who, g.Principal)
				}
			}
		}
		// even a forged role does not help: there is no grant to open
		forged := &hush.Actor{UserID: a.UserID, Role: hush.RoleClinician, Key: a.Key}
		if _, err := cl.Note(hush.WithActor(ctx, forged), nid, 0); hush.ErrorCode(err) != hush.EFORBIDDEN {
			t.Errorf("%s with a forged clinician role: %v, want forbidden", who, err)
		}
	}
	cl.Close()

	// Admin cannot grant (holds nothing); A grants B.
	team := map[string]any{"resourceType": "CareTeam", "subject": map[string]any{"reference": "Patient/" + pid},
		"participant": []any{map[string]any{"member": map[string]any{"reference": "Practitioner/" + f.ids["a@test.hush"]}},
			map[string]any{"member": map[string]any{"reference": "Practitioner/" + f.ids["b@test.hush"]}}}}
	f.must(403, f.do("admin@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, team))
	f.must(403, f.do("b@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, team))
	f.must(200, f.do("a@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, team))
	got := f.must(200, f.do("b@test.hush", "GET", "/fhir/R4/DocumentReference/"+nid, nil))
	if text := noteText(t, got); !strings.Contains(text, "low mood") {
		t.Fatalf("B reads %q", text)
	}
	// B writes a note in the shared record; A reads it.
	nb := f.must(201, f.do("b@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "free", "final", "Covering session by B.")))
	f.must(200, f.do("a@test.hush", "GET", "/fhir/R4/DocumentReference/"+nb["id"].(string), nil))

	// A revokes B: new epoch, B's grants destroyed, B is out.
	team["participant"] = team["participant"].([]any)[:1]
	f.must(200, f.do("a@test.hush", "PUT", "/fhir/R4/CareTeam/"+pid, team))
	f.must(403, f.do("b@test.hush", "GET", "/fhir/R4/DocumentReference/"+nid, nil))
	f.must(403, f.do("b@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+pid, nil))
	cl = f.open()
	defer cl.Close()
	cl.DB().Read(ctx, func(tx *store.Tx) error {
		e, err := tx.CurrentEpoch(pid)
		if err != nil || e != 2 {
			t.Errorf("epoch after revocation: %d, %v; want 2", e, err)
		}
		if _, err := tx.Grant(pid, 1, "user:"+f.ids["b@test.hush"]); hush.ErrorCode(err) != hush.ENOTFOUND {
			t.Errorf("B's grant survived revocation: %v", err)
		}
		if _, err := tx.Grant(pid, 2, "user:"+f.ids["b@test.hush"]); hush.ErrorCode(err) != hush.ENOTFOUND {
			t.Errorf("B got the new epoch: %v", err)
		}
		return nil
	})
	// A still reads everything, and new notes go to epoch 2.
	chart := f.must(200, f.do("a@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+pid, nil))
	if chart["total"].(float64) != 2 {
		t.Fatalf("chart total %v, want 2", chart["total"])
	}
	f.must(201, f.do("a@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "after revocation")))
}

func noteText(t *testing.T, doc map[string]any) string {
	t.Helper()
	content, ok := doc["content"].([]any)
	if !ok || len(content) == 0 {
		t.Fatalf("no content in %v", doc)
	}
	data := content[0].(map[string]any)["attachment"].(map[string]any)["data"].(string)
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRecovery: the treating clinician's account is deactivated (its key
// destroyed); two of the three shares re-grant the record to a new
// clinician, who reads the old notes.
func TestRecovery(t *testing.T) {
	f := newFixture(t, "leaving@test.hush=clinician", "new@test.hush=clinician")
	f.serve()
	p := f.must(201, f.do("leaving@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Laine", "Helmi", makeHETU(5, 6, 2001, 222), "+358 40 555 0000")))
	pid := p["id"].(string)
	var ids []string
	for i := 0; i < 3; i++ {
		n := f.must(201, f.do("leaving@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "BIRP", "final", fmt.Sprintf("old note %d", i))))
		ids = append(ids, n["id"].(string))
	}
	f.run("user", "deactivate", "--email", "leaving@test.hush")
	f.must(401, f.do("leaving@test.hush", "GET", "/fhir/R4/DocumentReference/"+ids[0], nil))
	f.must(403, f.do("new@test.hush", "GET", "/fhir/R4/DocumentReference/"+ids[0], nil))

	share := func(i int) string { return filepath.Join(f.shares, fmt.Sprintf("recovery-share-%d.txt", i)) }
	// One share alone, or the same share twice, does not rebuild the key.
	if _, err := f.try("recover", "grant", "--share", share(1), "--patient", pid, "--email", "new@test.hush"); err == nil {
		t.Fatal("recovery with one share succeeded")
	}
	if _, err := f.try("recover", "grant", "--share", share(1), "--share", share(1), "--patient", pid, "--email", "new@test.hush"); err == nil {
		t.Fatal("recovery with a duplicated share succeeded")
	}
	// A damaged share fails loudly.
	bad := filepath.Join(f.root, "bad-share.txt")
	b, _ := os.ReadFile(share(2))
	s := string(b)
	i := strings.Index(s, "\ny: ") + 4
	flip := "A"
	if s[i] == 'A' {
		flip = "B"
	}
	os.WriteFile(bad, []byte(s[:i]+flip+s[i+1:]), 0o600)
	if _, err := f.try("recover", "grant", "--share", share(1), "--share", bad, "--patient", pid, "--email", "new@test.hush"); err == nil || !strings.Contains(err.Error(), "do not rebuild") {
		t.Fatalf("recovery with a damaged share: %v", err)
	}
	f.run("recover", "grant", "--share", share(3), "--share", share(1), "--patient", pid, "--email", "new@test.hush")
	for i, id := range ids {
		got := f.must(200, f.do("new@test.hush", "GET", "/fhir/R4/DocumentReference/"+id, nil))
		if text := noteText(t, got); text != fmt.Sprintf("old note %d", i) {
			t.Errorf("note %d reads %q", i, text)
		}
	}
}

// TestBackupRestore: a backup taken while the server runs restores into a
// new data directory whose server serves the same notes; the backup holds no
// plaintext.
func TestBackupRestore(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	f.serve()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Backupmarkfam", "Eino", makeHETU(7, 7, 1977, 777), "+358 40 777 7777")))
	pid := p["id"].(string)
	n := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "Backupnotemarker text")))
	out := filepath.Join(f.root, "backups", "hush-backup.db")
	os.MkdirAll(filepath.Dir(out), 0o700)
	got := f.run("backup", "--data", f.data, "--kek-file", f.kek, "--out", out)
	if !strings.Contains(got, "verified: 2 users, 1 patients, 1 note versions, 2 grants") {
		t.Fatalf("backup output: %s", got)
	}
	if _, err := f.try("backup", "--data", f.data, "--kek-file", f.kek, "--out", out); err == nil {
		t.Fatal("backup overwrote an existing file")
	}
	if hits := scanTree(t, []string{"Backupmarkfam", "Backupnotemarker", makeHETU(7, 7, 1977, 777)}, filepath.Dir(out)); len(hits) > 0 {
		t.Fatalf("backup holds plaintext: %v", hits)
	}
	f.shutdown()
	// Restore: the backup becomes the database of a new data directory.
	restored := filepath.Join(f.root, "restored")
	os.MkdirAll(restored, 0o700)
	b, _ := os.ReadFile(out)
	os.WriteFile(filepath.Join(restored, "hush.db"), b, 0o600)
	if got := f.run("backup", "verify", "--kek-file", f.kek, "--out", out); !strings.Contains(got, "verified:") {
		t.Fatalf("verify: %s", got)
	}
	f.data = restored
	f.serve()
	doc := f.must(200, f.do("doc@test.hush", "GET", "/fhir/R4/DocumentReference/"+n["id"].(string), nil))
	if noteText(t, doc) != "Backupnotemarker text" {
		t.Fatal("restored note differs")
	}
	// A truncated backup fails verification.
	b = b[:len(b)/2]
	bad := filepath.Join(f.root, "backups", "bad.db")
	os.WriteFile(bad, b, 0o600)
	if _, err := f.try("backup", "verify", "--kek-file", f.kek, "--out", bad); err == nil {
		t.Error("a damaged backup verified")
	}
}
