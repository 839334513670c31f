package cli_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/hetu"
	"github.com/hushepr/hush/internal/hush"
)

// canaryFixture is a clinic with two reception accounts and a clinician,
// alerts going to a real webhook receiver, working hours all day and a
// request-rate limit no test here meets (the directory limit is the
// default).
func canaryFixture(t *testing.T) (*fixture, *webhookReceiver) {
	f := newFixture(t, "desk@test.hush=reception", "desk2@test.hush=reception", "doc@test.hush=clinician")
	return f, alertsToWebhook(t, f)
}

// intakePatient is a patient reception registers before a clinician is
// named: no generalPractitioner.
func intakePatient(family, given, code string) map[string]any {
	return map[string]any{
		"resourceType": "Patient",
		"name":         []any{map[string]any{"family": family, "given": []string{given}}},
		"identifier":   []any{map[string]any{"system": hetu.System, "value": code}},
		"telecom":      []any{map[string]any{"system": "phone", "value": "+358401234567", "use": "mobile"}},
	}
}

// plantedCanaries waits (the server is stopped) and returns the canaries'
// ids, failing unless all planned ones were planted.
func plantedCanaries(t *testing.T, f *fixture, want int) []string {
	t.Helper()
	cl := f.open()
	defer cl.Close()
	ids, err := cl.Canaries(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, pending, err := cl.CanaryCount(context.Background())
	if err != nil || len(ids) != want || pending != 0 {
		t.Fatalf("%d canaries planted, %d pending (%v), want %d planted", len(ids), pending, err, want)
	}
	return ids
}

// directoryEntries lists the directory as a clinician's searches show it
// (on a clinic opened with the KEK, after the server stopped), by the
// given name prefixes.
func directoryEntries(t *testing.T, f *fixture, prefixes ...string) map[string]hush.Patient {
	t.Helper()
	cl := f.open()
	defer cl.Close()
	ctx := hush.WithActor(context.Background(), &hush.Actor{UserID: f.ids["doc@test.hush"], Role: hush.RoleClinician})
	out := map[string]hush.Patient{}
	for _, q := range prefixes {
		ps, err := cl.SearchPatients(ctx, clinic.PatientQuery{Name: q})
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == clinic.MaxSearchResults {
			t.Fatalf("search %q filled a page: the test's directory is too big", q)
		}
		for _, p := range ps {
			out[p.ID] = p
		}
	}
	return out
}

// TestInsiderCanaryClearColumns: a database reader without the KEK tries
// the queries that told canaries apart (no care-team row, a recovery grant
// alone, an operator's patient.create, the first rows of the table, a
// short sealed entry). Canaries planted by the server have the clear shape
// of the patients reception registered before naming a clinician: every
// clear column and audit event of a canary is one some real patient has.
func TestInsiderCanaryClearColumns(t *testing.T) {
	if testing.Short() {
		t.Skip("registers 70 patients")
	}
	f, _ := canaryFixture(t)
	f.run("canary", "add", "--count", "3")
	f.serve("--canary-plant-delay", "0s")
	for i := range 10 { // a clinician's own registrations: care team from the start
		f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON(fmt.Sprintf("Hoito%02d", i), "Anna", makeHETU(1+i, 3, 1970+i, 200+i), "+358401234567")))
	}
	for i := range 60 { // reception's, a clinician named later (or never)
		f.must(201, f.do("desk@test.hush", "POST", "/fhir/R4/Patient", intakePatient(fmt.Sprintf("Jono%02d", i), "Matti", makeHETU(1+i%28, 1+i%12, 1950+i, 101+2*i))))
	}
	f.shutdown()
	canaries := plantedCanaries(t, f, 3)
	isCanary := map[string]bool{}
	for _, id := range canaries {
		isCanary[id] = true
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.data, "hush.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	role := map[string]string{}
	rows, err := db.Query(`SELECT id, role FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, r string
		rows.Scan(&id, &r)
		role[id] = r
	}
	rows.Close()
	role["operator"] = "operator"

	type patientRow struct {
		id, createdBy string
		rowid, at     int64
		sig           string
	}
	var ps []patientRow
	rows, err = db.Query(`SELECT rowid, id, created_at, created_by, length(directory), coalesce(length(hetu_index), -1) FROM patients ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p patientRow
		var dirLen, idxLen int
		if err := rows.Scan(&p.rowid, &p.id, &p.at, &p.createdBy, &dirLen, &idxLen); err != nil {
			t.Fatal(err)
		}
		p.sig = fmt.Sprintf("creator=%s dir=%d idx=%d", role[p.createdBy], dirLen, idxLen)
		ps = append(ps, p)
	}
	rows.Close()
	one := func(q string, args ...any) string {
		var parts []string
		rows, err := db.Query(q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			parts = append(parts, fmt.Sprint(vals...))
		}
		return strings.Join(parts, ";")
	}
	for i := range ps {
		p := &ps[i]
		p.sig += " careteam=" + one(`SELECT count(*) FROM care_team WHERE patient_id = ?`, p.id)
		p.sig += " epochs=" + one(`SELECT group_concat(epoch || ':' || (created_at = ?) || ':' || length(public_key) || ':' || length(public_key_mac)) FROM record_epochs WHERE patient_id = ?`, p.at, p.id)
		p.sig += " grants=" + one(`SELECT group_concat(CASE principal WHEN 'recovery' THEN 'R' ELSE 'U' END || ':' || (created_at = ?) || ':' || length(sealed)) FROM grants WHERE patient_id = ?`, p.at, p.id)
		p.sig += " changes=" + one(`SELECT count(*) FROM directory_changes WHERE patient_id = ?`, p.id)
		p.sig += " history=" + one(`SELECT count(*) FROM patient_directory_history WHERE patient_id = ?`, p.id)
		// The audit events naming the patient, as a reader sees them: the
		// action, the actor's role and the clear fields of the record.
		evRows, err := db.Query(`SELECT action, actor_id, record FROM audit_events WHERE patient_id = ? ORDER BY idx`, p.id)
		if err != nil {
			t.Fatal(err)
		}
		var evs []string
		for evRows.Next() {
			var action, actor string
			var record []byte
			evRows.Scan(&action, &actor, &record)
			var m map[string]any
			json.Unmarshal(record, &m)
			var keys []string
			for k, v := range m {
				switch k {
				case "time", "patient", "actor", "request", "idx":
					keys = append(keys, k) // values differ between any two events
				case "private":
					keys = append(keys, fmt.Sprintf("private(%d)", len(fmt.Sprint(v))))
				default:
					keys = append(keys, fmt.Sprintf("%s=%v", k, v))
				}
			}
			sort.Strings(keys)
			evs = append(evs, fmt.Sprintf("%s by %s {%s} req=%v", action, role[actor], strings.Join(keys, ","), m["request"] != ""))
		}
		evRows.Close()
		p.sig += " audit=[" + strings.Join(evs, " | ") + "]"
	}

	// The real patients reception registered without a clinician.
	realSigs := map[string]int{}
	var firstReal, lastReal int64 = 1 << 62, 0
	var minCanaryRowid, maxRealRowid int64 = 1 << 62, 0
	for _, p := range ps {
		if isCanary[p.id] {
			minCanaryRowid = min(minCanaryRowid, p.rowid)
			continue
		}
		if role[p.createdBy] == "reception" {
			realSigs[p.sig]++
			firstReal, lastReal = min(firstReal, p.at), max(lastReal, p.at)
			maxRealRowid = max(maxRealRowid, p.rowid)
		}
	}
	for _, p := range ps {
		if !isCanary[p.id] {
			continue
		}
		if realSigs[p.sig] == 0 {
			var some string
			for s := range realSigs {
				some = s
				break
			}
			t.Errorf("a canary's clear columns differ from every real patient registered the same way:\ncanary: %s\na real one: %s", p.sig, some)
		}
		if p.createdBy != f.ids["desk@test.hush"] {
			t.Errorf("a canary was created by %s, not by the reception account whose registrations it follows", role[p.createdBy])
		}
		if p.at < firstReal || p.at > lastReal+60_000 {
			t.Errorf("a canary's created_at is outside the real registrations' span")
		}
	}
	if minCanaryRowid < 11+1 || minCanaryRowid > maxRealRowid {
		t.Errorf("canaries' rowids start at %d: not among the real registrations' (up to %d)", minCanaryRowid, maxRealRowid)
	}
	// The old tells, as queries: every one of them now returns real
	// patients too.
	noTeam := one(`SELECT count(*) FROM patients p WHERE NOT EXISTS (SELECT 1 FROM care_team c WHERE c.patient_id = p.id)`)
	recoveryOnly := one(`SELECT count(*) FROM patients p WHERE (SELECT count(*) FROM grants g WHERE g.patient_id = p.id) = 1`)
	operatorMade := one(`SELECT count(*) FROM audit_events WHERE action = 'patient.create' AND actor_id = 'operator'`)
	if noTeam != "63" || recoveryOnly != "63" || operatorMade != "0" {
		t.Errorf("patients with no care team %s, with a recovery grant alone %s (want 63: 60 real, 3 canaries); operator-made %s (want 0)", noTeam, recoveryOnly, operatorMade)
	}
}

// TestInsiderCanaryCodeEnumeration: a reception account lists a canary
// (its name and birth date are in every listing) and tries the temporary
// identity codes of that birth date one by one to learn whether it is a
// canary. Today a hit costs one directory row and a miss none, so the
// canary's code is found and nothing trips. Now the lookup that finds the
// canary is a request for its record: refused, the account frozen, an
// alert at the webhook. And every lookup counts toward the directory
// limit, hit or miss: another account that tries codes at random is
// frozen at the limit.
func TestInsiderCanaryCodeEnumeration(t *testing.T) {
	if testing.Short() {
		t.Skip("three hundred lookups")
	}
	f, hook := canaryFixture(t)
	f.run("canary", "add", "--count", "1", "--now")
	cl := f.open()
	ids, err := cl.Canaries(context.Background())
	cl.Close()
	if err != nil || len(ids) != 1 {
		t.Fatalf("canaries %v: %v", ids, err)
	}
	entries := directoryEntries(t, f, strings.Split("abcdefghijklmnopqrstuvwxyzåäö", "")...)
	canary, ok := entries[ids[0]]
	if !ok {
		t.Fatal("the canary is not in the listing")
	}
	code, err := hetu.Parse(canary.HETU)
	if err != nil {
		t.Fatal(err)
	}
	birth, _ := time.Parse(time.DateOnly, canary.BirthDate)
	f.serve()

	// lookups tries codes as the account until one is refused, and returns
	// how many it tried; a lookup that lists a patient fails the test.
	lookups := func(email string, codes []string) int {
		for i, c := range codes {
			r := f.do(email, "GET", "/fhir/R4/Patient?identifier="+url.QueryEscape(hetu.System+"|"+c), nil)
			if r.status != 200 {
				if r.status != 403 {
					t.Fatalf("lookup %d: status %d: %s", i+1, r.status, r.body)
				}
				return i + 1
			}
			if n := r.json()["total"]; n != float64(0) {
				t.Fatalf("lookup %d listed a patient (total %v): the probe learnt what it wanted", i+1, n)
			}
		}
		return 0
	}

	// The temporary codes of the canary's birth date, the sex its given
	// name suggests first: the lookup of its own code is the trip.
	var tries []string
	at := -1
	for _, parity := range []int{code.Individual() % 2, 1 - code.Individual()%2} {
		for ind := 900 + parity; ind <= 999; ind += 2 {
			c, _ := hetu.Make(birth, ind)
			if c.String() == code.String() {
				at = len(tries) + 1
			}
			tries = append(tries, c.String())
		}
	}
	if got := lookups("desk2@test.hush", tries); got != at {
		t.Fatalf("the probe was refused at lookup %d, want at the canary's code (%d)", got, at)
	}
	hook.waitFor(t, "canary", f.ids["desk2@test.hush"])
	if r := f.do("desk2@test.hush", "GET", "/fhir/R4/Patient?name=a", nil); r.status != 403 {
		t.Fatalf("a frozen account searched: %d", r.status)
	}

	// Codes that find no one count too: an account trying them is frozen
	// at the directory limit.
	tries = tries[:0]
	for ind := 2; len(tries) < 400; ind++ {
		c, _ := hetu.Make(birth.AddDate(0, 0, 1), ind)
		tries = append(tries, c.String())
	}
	limit := clinic.DefaultSettings().DirectoryLimit
	if got := lookups("desk@test.hush", tries); got != limit+1 {
		t.Fatalf("the misses were refused at lookup %d, want %d (the directory limit %d, then the freeze)", got, limit+1, limit)
	}
	hook.waitFor(t, "volume.directory", f.ids["desk@test.hush"])
}

// TestInsiderCanaryNames: canaries planted in a clinic take their family
// names, given names and birth years from its real patients (here names
// no built-in list has), with the sex of the given names in their code,
// and never a real patient's full name and birth date.
func TestInsiderCanaryNames(t *testing.T) {
	if testing.Short() {
		t.Skip("registers 48 patients")
	}
	f, _ := canaryFixture(t)
	type person struct{ family, given, birth string }
	var real []person
	register := func(from, n int) {
		for i := from; i < from+n; i++ {
			given, ind := fmt.Sprintf("Ela%02d", i), 102+2*i // even: female
			if i%2 == 1 {
				given, ind = fmt.Sprintf("Eki%02d", i), 101+2*i
			}
			family := fmt.Sprintf("Koe%02dnen", i)
			code := makeHETU(1+i%28, 1+i%12, 1951+i, ind)
			f.must(201, f.do("desk@test.hush", "POST", "/fhir/R4/Patient", intakePatient(family, given, code)))
			c, _ := hetu.Parse(code)
			real = append(real, person{family, given, c.BirthDate().Format(time.DateOnly)})
		}
	}
	f.serve("--canary-plant-delay", "0s")
	register(0, 22)
	f.shutdown()
	f.run("canary", "add", "--count", "3") // planned after the directory has 22 patients
	f.serve("--canary-plant-delay", "0s")
	register(22, 26)
	f.shutdown()
	ids := plantedCanaries(t, f, 3)
	entries := directoryEntries(t, f, "Ela", "Eki")
	years := map[int]bool{}
	families, givens := map[string]bool{}, map[string]bool{}
	for _, p := range real {
		families[p.family], givens[p.given] = true, true
		y, _ := time.Parse(time.DateOnly, p.birth)
		years[y.Year()] = true
	}
	for _, id := range ids {
		c, ok := entries[id]
		if !ok {
			t.Fatalf("canary %s is not listed under the real given names", id)
		}
		bd, _ := time.Parse(time.DateOnly, c.BirthDate)
		if !families[c.Family] || len(c.Given) != 1 || !givens[c.Given[0]] || !years[bd.Year()] {
			t.Errorf("canary %s %v born %s: not drawn from the clinic's names and years", c.Family, c.Given, c.BirthDate)
		}
		if slices.Contains(real, person{c.Family, strings.Join(c.Given, " "), c.BirthDate}) {
			t.Errorf("canary %s %v born %s is a real patient's full name and birth date", c.Family, c.Given, c.BirthDate)
		}
		code, err := hetu.Parse(c.HETU)
		if err != nil || code.Individual() < 900 || code.BirthDate().Format(time.DateOnly) != c.BirthDate {
			t.Errorf("canary code %v: not a temporary code of its birth date", err)
		}
		wantSex := "female"
		if strings.HasPrefix(c.Given[0], "Eki") {
			wantSex = "male"
		}
		if code.Sex() != wantSex {
			t.Errorf("canary given name %s with a %s code", c.Given[0], code.Sex())
		}
	}
}

// TestInsiderCanaryAddedWhileServing: a canary made by hush canary add
// while the server runs trips on its first open; the server picks up the
// sealed mark with the new directory entry.
func TestInsiderCanaryAddedWhileServing(t *testing.T) {
	f, hook := canaryFixture(t)
	f.serve()
	f.run("canary", "add", "--count", "1", "--now")
	cl := f.open()
	ids, err := cl.Canaries(context.Background())
	cl.Close()
	if err != nil || len(ids) != 1 {
		t.Fatalf("canaries %v: %v", ids, err)
	}
	if r := f.do("desk@test.hush", "GET", "/fhir/R4/Patient/"+ids[0], nil); r.status != 403 {
		t.Fatalf("opening the new canary: %d %s", r.status, r.body)
	}
	hook.waitFor(t, "canary", f.ids["desk@test.hush"])
}
