package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/hushepr/hush/internal/auth"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
)

// The token thief (docs/threat-model.md, "The token thief"): someone holds
// a clinician's API token and a copy of the data directory or a backup,
// but not the KEK. These tests play them against a real server and real
// files.

// thiefCopy copies the database files of a data directory (as a thief
// copying a live server's disk would) into a new directory.
func thiefCopy(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	for _, name := range []string{"hush.db", "hush.db-wal", "hush.db-shm"} {
		b, err := os.ReadFile(filepath.Join(from, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// openStolen opens a copied database with database/sql: no Hush code, no KEK.
func openStolen(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "hush.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tokenParts splits hush_<id>_<secret>.
func tokenParts(t *testing.T, bearer string) (id string, secret []byte) {
	t.Helper()
	id, text, ok := strings.Cut(strings.TrimPrefix(bearer, "hush_"), "_")
	secret, err := base64.RawURLEncoding.DecodeString(text)
	if !ok || err != nil {
		t.Fatal("not a Hush bearer token")
	}
	return id, secret
}

// tokenSealedKey reads a token row's sealed key straight from the file.
func tokenSealedKey(t *testing.T, db *sql.DB, tokenID string) (userID string, sealed []byte) {
	t.Helper()
	if err := db.QueryRow(`SELECT user_id, sealed_key FROM tokens WHERE id = ?`, tokenID).Scan(&userID, &sealed); err != nil {
		t.Fatal(err)
	}
	return userID, sealed
}

// thiefNoteAD is the associated data a note body is sealed with (the format is
// public: it is in the source).
func thiefNoteAD(pid, id string, version, epoch int, kind, status, author string, created int64) []byte {
	return seal.AD("hush note v1", pid, id, strconv.Itoa(version), strconv.Itoa(epoch), "note", kind, status, author, strconv.FormatInt(created, 10))
}

// thiefSeeds opens, with key, every grant of principal user:userID in a
// copied database: the seeds its holder keeps.
func thiefSeeds(t *testing.T, db *sql.DB, key *seal.PrivateKey, userID string) map[string]map[int]*seal.RecordSeed {
	t.Helper()
	var clinicID string
	if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'clinic_id'`).Scan(&clinicID); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT patient_id, epoch, sealed FROM grants WHERE principal = ?`, "user:"+userID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]map[int]*seal.RecordSeed{}
	for rows.Next() {
		var pid string
		var epoch int
		var sealed []byte
		if err := rows.Scan(&pid, &epoch, &sealed); err != nil {
			t.Fatal(err)
		}
		s, err := key.OpenGrant(seal.GrantContext{Clinic: clinicID, Record: pid, Epoch: epoch, Principal: "user:" + userID}, sealed)
		if err != nil {
			continue
		}
		if out[pid] == nil {
			out[pid] = map[int]*seal.RecordSeed{}
		}
		out[pid][epoch] = s
	}
	return out
}

// thiefDecryptNotes opens every note version in db that one of seeds opens and
// returns the texts by note id.
func thiefDecryptNotes(t *testing.T, db *sql.DB, seeds map[string]map[int]*seal.RecordSeed) map[string]string {
	t.Helper()
	rows, err := db.Query(`SELECT id, version, patient_id, epoch, author_id, kind, status, created_at, body FROM notes`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, pid, author, kind, status string
		var version, epoch int
		var created int64
		var body []byte
		if err := rows.Scan(&id, &version, &pid, &epoch, &author, &kind, &status, &created, &body); err != nil {
			t.Fatal(err)
		}
		for _, s := range seeds[pid] { // any seed the thief holds, whatever epoch the row claims
			k := s.ContentKey()
			b, err := k.Open(body, thiefNoteAD(pid, id, version, epoch, kind, status, author, created))
			k.Wipe()
			if err == nil {
				out[id] = string(b)
			}
		}
	}
	return out
}

// filesHoldingBytes names the files under dir that contain one of secrets.
func filesHoldingBytes(t *testing.T, dir string, secrets ...[]byte) []string {
	t.Helper()
	var hits []string
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("read %s: %v", path, err)
			return nil
		}
		for i, s := range secrets {
			if bytes.Contains(b, s) {
				hits = append(hits, fmt.Sprintf("%s holds secret %d", path, i))
			}
		}
		return nil
	})
	return hits
}

// TestInsiderTokenAndCopy: a clinician's API token and a copy of the data
// directory, without the KEK, open neither the clinician's private key nor
// any note (the old attack, step by step, fails at its first step). An
// expired token's row holds no sealed key once the sweep ran; after a
// revocation no file in the data directory holds the old sealed key.
func TestInsiderTokenAndCopy(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	f.serve()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Tokenthief", "Aino", makeHETU(4, 5, 1986, 321), "+358 40 321 4321")))
	pid := p["id"].(string)
	for i := 0; i < 3; i++ {
		f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", fmt.Sprintf("Thiefmarker-%d: session notes", i))))
	}

	// The thief: the token and a copy of the disk, no KEK.
	bearer := f.tokens["doc@test.hush"]
	tokenID, secret := tokenParts(t, bearer)
	stolen := openStolen(t, thiefCopy(t, f.data))
	userID, sealed := tokenSealedKey(t, stolen, tokenID)
	if len(sealed) == 0 {
		t.Fatal("the live token's row holds no sealed key (nothing to attack?)")
	}
	cred := seal.FromToken(secret, tokenID)
	priv, err := seal.OpenPrivateKey(sealed, cred.Wrap, seal.AD("hush user key token v1", userID, tokenID))
	if err == nil {
		// Today's code would get here: every note of the clinician opens.
		notes := thiefDecryptNotes(t, stolen, thiefSeeds(t, stolen, priv, userID))
		t.Fatalf("the token and a copy opened the private key and %d notes without the KEK", len(notes))
	}
	// Nor does anything else in the row open it: the wrap is under the KEK.
	for _, ad := range [][]byte{nil, seal.AD("hush user key token kek v1", userID, tokenID)} {
		if _, err := seal.OpenPrivateKey(sealed, cred.Wrap, ad); err == nil {
			t.Fatal("the token-sealed key opened without the KEK")
		}
	}
	f.must(200, f.do("doc@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+pid, nil)) // the server (KEK) still does

	// An expired token: its sealed key is erased by the sweep (at open
	// here; hush serve also sweeps every minute).
	short := strings.TrimSpace(f.run("token", "create", "--email", "doc@test.hush", "--password-file", f.pwFile, "--ttl", "1s"))
	f.tokens["short"] = short
	f.must(200, f.do("short", "GET", "/fhir/R4/DocumentReference?patient="+pid, nil))
	shortID, _ := tokenParts(t, short)
	live := openStolen(t, f.data)
	_, shortSealed := tokenSealedKey(t, live, shortID)
	if len(shortSealed) == 0 {
		t.Fatal("a live token holds no sealed key")
	}
	time.Sleep(1100 * time.Millisecond)
	f.must(401, f.do("short", "GET", "/fhir/R4/DocumentReference?patient="+pid, nil))
	f.shutdown()
	f.serve()
	var expires sql.NullInt64
	var left []byte
	if err := live.QueryRow(`SELECT sealed_key, expires_at FROM tokens WHERE id = ?`, shortID).Scan(&left, &expires); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 || !expires.Valid {
		t.Fatalf("expired token after the sweep: %d sealed-key bytes, expiry kept %v", len(left), expires.Valid)
	}
	if hits := filesHoldingBytes(t, f.data, shortSealed); len(hits) > 0 {
		t.Errorf("the expired token's sealed key is still on disk: %v", hits)
	}

	// Revocation, while the server runs: no file keeps the old bytes.
	_, sealedNow := tokenSealedKey(t, live, tokenID)
	if !bytes.Equal(sealedNow, sealed) {
		t.Fatal("the token's sealed key changed under the test")
	}
	f.run("token", "revoke", "--id", tokenID)
	f.must(401, f.do("doc@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+pid, nil))
	if hits := filesHoldingBytes(t, f.data, sealed); len(hits) > 0 {
		t.Errorf("the revoked token's sealed key is still on disk: %v", hits)
	}
	if err := live.QueryRow(`SELECT sealed_key FROM tokens WHERE id = ?`, tokenID).Scan(&left); err != nil || len(left) != 0 {
		t.Fatalf("revoked token's row: %d bytes, %v", len(left), err)
	}
}

var firstSignInTOTPRE = regexp.MustCompile(`data-testid="totp-key">([A-Z2-7]+)<`)

// firstSignInNewPassword signs a user in to the web app for the first time: the
// enrolment code, TOTP enrolment, recovery codes, then the new password that replaces the key
// pair born from the admin-chosen one.
func (f *fixture) firstSignInNewPassword(email, password, newPassword string) {
	f.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: f.client.Transport, Timeout: 30 * time.Second}
	post := func(path string, form url.Values) (string, string) {
		f.t.Helper()
		resp, err := c.PostForm(f.url+path, form)
		if err != nil {
			f.t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Request.URL.Path, string(b)
	}
	at, body := post("/signin", url.Values{"email": {email}, "password": {password}})
	if at == "/signin/code" { // the one-time enrolment code the admin handed over
		at, body = post("/signin/code", url.Values{"code": {f.enrol[email]}})
	}
	m := firstSignInTOTPRE.FindStringSubmatch(body)
	if at != "/signin/enroll" || m == nil {
		f.t.Fatalf("first sign-in landed on %s", at)
	}
	key, err := auth.TOTPSecretFromText(m[1])
	if err != nil {
		f.t.Fatal(err)
	}
	if at, _ = post("/signin/enroll", url.Values{"code": {auth.TOTPCode(key, auth.StepAt(time.Now()))}}); at != "/signin/codes" {
		f.t.Fatalf("after enrolment at %s", at)
	}
	if at, _ = post("/signin/codes", nil); at != "/signin/password" {
		f.t.Fatalf("a first sign-in did not ask for a new password (at %s)", at)
	}
	if at, _ = post("/signin/password", url.Values{"password": {newPassword}, "again": {newPassword}}); at != "/patients" {
		f.t.Fatalf("after the new password at %s", at)
	}
}

// TestInsiderFirstPasswordEpochs: the admin chose the clinician's first
// password, holds the KEK and took a copy of the disk before the
// clinician's first sign-in. The first sign-in replaces the key pair and
// starts new epochs, so the first key and the seeds it opened in that copy
// open none of the notes written afterwards (from a later copy), and the
// clinician still reads the old ones.
func TestInsiderFirstPasswordEpochs(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	f.serve()
	p := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Firstpw", "Eero", makeHETU(7, 8, 1979, 777), "+358 40 777 0777")))
	pid := p["id"].(string)
	before := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "Beforemarker: written under the first key")))
	beforeID := before["id"].(string)
	early := thiefCopy(t, f.data) // the admin's copy, before the first sign-in

	const newPassword = "the clinician's own passphrase"
	f.firstSignInNewPassword("doc@test.hush", testPassword, newPassword)
	newPW := filepath.Join(f.root, "newpw")
	if err := os.WriteFile(newPW, []byte(newPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.must(401, f.do("doc@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+pid, nil)) // tokens under the old key are revoked
	f.tokens["doc@test.hush"] = strings.TrimSpace(f.run("token", "create", "--email", "doc@test.hush", "--password-file", newPW))
	after := f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/DocumentReference", noteJSON(pid, "SOAP", "final", "Aftermarker: written under the new key")))
	afterID := after["id"].(string)
	// History stays readable to the clinician, with the new key.
	got := f.must(200, f.do("doc@test.hush", "GET", "/fhir/R4/DocumentReference?patient="+pid, nil))
	if n := int(got["total"].(float64)); n != 2 {
		t.Fatalf("the clinician reads %d notes after the key replacement, want 2", n)
	}
	f.shutdown()

	// The admin: the first password, the KEK, the early copy and a later one.
	kek, err := seal.LoadKEKFile(f.kek)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	earlyDB := openStolen(t, early)
	var pwKey []byte
	userID := f.ids["doc@test.hush"]
	if err := earlyDB.QueryRow(`SELECT pw_key FROM users WHERE id = ?`, userID).Scan(&pwKey); err != nil {
		t.Fatal(err)
	}
	var salt []byte
	earlyDB.QueryRow(`SELECT pw_salt FROM users WHERE id = ?`, userID).Scan(&salt)
	inner, err := kek.Derive("credential wrap v1").Open(pwKey, seal.AD("hush user key kek v1", userID))
	if err != nil {
		t.Fatal(err)
	}
	firstKey, err := seal.OpenPrivateKey(inner, seal.FromPassword([]byte(testPassword), salt).Wrap, seal.AD("hush user key password v1", userID))
	if err != nil {
		t.Fatalf("the admin's first password and the KEK do not open the early copy's key: %v", err)
	}
	seeds := thiefSeeds(t, earlyDB, firstKey, userID)
	if len(seeds[pid]) == 0 {
		t.Fatal("the first key opens no seed of the early copy (the attack has nothing to start from)")
	}
	later := openStolen(t, thiefCopy(t, f.data))
	opened := thiefDecryptNotes(t, later, seeds)
	if !strings.Contains(opened[beforeID], "Beforemarker") {
		t.Fatalf("the early seeds do not open the note they saw (the test's decryption is broken?): %v", opened)
	}
	if text, ok := opened[afterID]; ok {
		t.Fatalf("the first password's key opened a note written after the key replacement: %q", text)
	}
	// Nor do the later copy's grants open to the first key.
	if s := thiefSeeds(t, later, firstKey, userID); len(s[pid]) != 0 {
		t.Fatalf("the first key opens %d grants of the later copy", len(s[pid]))
	}
	// And the server's own code, given the later copy and the first key,
	// refuses the new note.
	cl := f.open()
	defer cl.Close()
	thief := hush.WithActor(ctx, &hush.Actor{UserID: userID, Role: hush.RoleClinician, Key: firstKey, Session: &hush.SeedCache{}})
	if _, err := cl.Note(thief, afterID, 0); err == nil {
		t.Fatal("the first key opens the new note through Hush")
	}
}
