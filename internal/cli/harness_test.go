package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/cli"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/seal"
)

// TestMain lets a test re-run this binary as the hush command (for kill -9
// tests): HUSH_TEST_MAIN=1 runs cli.Run on the arguments instead of tests.
func TestMain(m *testing.M) {
	if os.Getenv("HUSH_TEST_MAIN") == "1" {
		err := cli.Run(context.Background(), os.Args[1:], cli.Env{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr})
		if err != nil {
			fmt.Fprintln(os.Stderr, "hush:", cli.Message(err))
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fixture is a clinic made by the real CLI in a temporary directory.
type fixture struct {
	t       testing.TB
	root    string
	data    string
	kek     string
	shares  string
	pwFile  string
	tokens  map[string]string // email -> bearer token
	ids     map[string]string // email -> user id
	enrol   map[string]string // email -> enrolment code for the first web sign-in
	url     string
	client  *http.Client
	stop    context.CancelFunc
	stopped chan error
}

const testPassword = "correct horse battery staple"

// newFixture inits a clinic with an admin, and adds users given as
// email=role pairs.
func newFixture(t testing.TB, users ...string) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{t: t, root: root, data: filepath.Join(root, "data"), kek: filepath.Join(root, "keys", "hush.kek"),
		shares: filepath.Join(root, "shares"), pwFile: filepath.Join(root, "pw"), tokens: map[string]string{}, ids: map[string]string{}, enrol: map[string]string{}}
	if err := os.MkdirAll(filepath.Join(root, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// No canaries: their random names would meet the tests' searches. The
	// tripwire tests add theirs with hush canary add.
	f.enrol["admin@test.hush"] = enrolmentCode(t, f.run("init", "--clinic", "Test Clinic", "--admin", "admin@test.hush", "--password-file", f.pwFile, "--shares-dir", f.shares, "--canaries", "0"))
	f.tokens["admin@test.hush"] = strings.TrimSpace(f.run("token", "create", "--email", "admin@test.hush", "--password-file", f.pwFile))
	for _, u := range users {
		email, role, _ := strings.Cut(u, "=")
		f.addUser(email, role)
	}
	return f
}

// addUser adds a user with hush user add: its first line is the id, the
// next the enrolment code the first web sign-in needs (unless e-mailed).
func (f *fixture) addUser(email, role string) {
	f.t.Helper()
	out := f.run("user", "add", "--email", email, "--name", "Name of "+email, "--role", role, "--password-file", f.pwFile, "--show-code")
	id, rest, _ := strings.Cut(out, "\n")
	f.ids[email] = strings.TrimSpace(id)
	if role != "patient" {
		f.enrol[email] = enrolmentCode(f.t, rest)
	}
	f.tokens[email] = strings.TrimSpace(f.run("token", "create", "--email", email, "--password-file", f.pwFile))
}

var enrolmentCodeRE = regexp.MustCompile(`enrolment code ([a-z2-7]{5}-[a-z2-7]{5}-[a-z2-7]{5}-[a-z2-7]{5}) `)

// enrolmentCode finds the enrolment code hush init or user add printed.
func enrolmentCode(t testing.TB, out string) string {
	t.Helper()
	m := enrolmentCodeRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no enrolment code in the output: %q", out)
	}
	return m[1]
}

// run runs a hush subcommand with --data and --kek-file and returns stdout.
func (f *fixture) run(args ...string) string {
	f.t.Helper()
	out, err := f.try(args...)
	if err != nil {
		f.t.Fatalf("hush %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (f *fixture) try(args ...string) (string, error) {
	var out bytes.Buffer
	full := append([]string{args[0]}, args[1:]...)
	if len(args) > 1 && (args[0] == "user" || args[0] == "token" || args[0] == "recover" || args[0] == "witness" || args[0] == "canary") {
		full = append([]string{args[0], args[1], "--data", f.data, "--kek-file", f.kek}, args[2:]...)
	} else if args[0] == "init" || args[0] == "serve" {
		full = append([]string{args[0], "--data", f.data, "--kek-file", f.kek}, args[1:]...)
	}
	err := cli.Run(context.Background(), full, cli.Env{Getenv: func(string) string { return "" }, Stdout: &out, Stderr: io.Discard})
	return out.String(), err
}

// lineWriter hands the first line written to it to a channel.
type lineWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	once sync.Once
	c    chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if i := bytes.IndexByte(w.buf.Bytes(), '\n'); i >= 0 {
		line := string(w.buf.Bytes()[:i])
		w.once.Do(func() { w.c <- line })
	}
	return len(p), nil
}

// serve starts hush serve in-process on a random loopback port.
func (f *fixture) serve(extra ...string) {
	f.t.Helper()
	f.client = f.httpClient()
	ctx, cancel := context.WithCancel(context.Background())
	lw := &lineWriter{c: make(chan string, 1)}
	f.stop, f.stopped = cancel, make(chan error, 1)
	go func() {
		f.stopped <- cli.Run(ctx, append([]string{"serve", "--data", f.data, "--kek-file", f.kek, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, extra...),
			cli.Env{Getenv: func(string) string { return "" }, Stdout: lw, Stderr: io.Discard})
	}()
	select {
	case line := <-lw.c:
		f.url = strings.TrimPrefix(line, "serving ")
	case err := <-f.stopped:
		f.t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		f.t.Fatal("serve did not start")
	}
	f.t.Cleanup(f.shutdown)
}

func (f *fixture) shutdown() {
	if f.stop == nil {
		return
	}
	f.stop()
	if err := <-f.stopped; err != nil {
		f.t.Errorf("serve: %v", err)
	}
	f.stop = nil
}

// httpClient trusts exactly the clinic's self-signed certificate.
func (f *fixture) httpClient() *http.Client {
	f.t.Helper()
	cl := f.open()
	certPEM, _, err := cl.TLS(context.Background())
	cl.Close()
	if err != nil {
		f.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 64,
	}}
}

// open opens the clinic directly with the KEK, as an operator (or a thief
// holding both the data directory and the key file) could.
func (f *fixture) open() *clinic.Clinic {
	f.t.Helper()
	kek, err := seal.LoadKEKFile(f.kek)
	if err != nil {
		f.t.Fatal(err)
	}
	cl, err := clinic.Open(context.Background(), f.data, kek)
	if err != nil {
		f.t.Fatal(err)
	}
	return cl
}

// response is a decoded API response.
type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) json() map[string]any {
	var m map[string]any
	json.Unmarshal(r.body, &m)
	return m
}

// diagnostics returns the OperationOutcome text of an error response.
func (r response) diagnostics() string {
	var oo struct {
		ResourceType string
		Issue        []struct{ Diagnostics string }
	}
	if json.Unmarshal(r.body, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		return ""
	}
	return oo.Issue[0].Diagnostics
}

// do sends a request as the user with that email ("" for no token).
func (f *fixture) do(email, method, path string, body any, headers ...string) response {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, f.url+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	if email != "" {
		req.Header.Set("Authorization", "Bearer "+f.tokens[email])
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{status: resp.StatusCode, body: b, header: resp.Header}
}

// must asserts a status and returns the decoded body.
func (f *fixture) must(want int, r response) map[string]any {
	f.t.Helper()
	if r.status != want {
		f.t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	return r.json()
}

func patientJSON(family, given, hetuCode, phone string, gp ...string) map[string]any {
	p := map[string]any{
		"resourceType": "Patient",
		"name":         []any{map[string]any{"family": family, "given": []string{given}}},
		"identifier":   []any{map[string]any{"system": "urn:oid:1.2.246.21", "value": hetuCode}},
		"telecom":      []any{map[string]any{"system": "phone", "value": phone, "use": "mobile"}},
	}
	if len(gp) > 0 {
		var refs []any
		for _, id := range gp {
			refs = append(refs, map[string]any{"reference": "Practitioner/" + id})
		}
		p["generalPractitioner"] = refs
	}
	return p
}

func noteJSON(patientID, kind, status, text string) map[string]any {
	return map[string]any{
		"resourceType": "DocumentReference",
		"status":       "current",
		"docStatus":    status,
		"type":         map[string]any{"coding": []any{map[string]any{"system": "urn:hush:note-type", "code": kind}}},
		"subject":      map[string]any{"reference": "Patient/" + patientID},
		"content":      []any{map[string]any{"attachment": map[string]any{"contentType": "text/plain; charset=utf-8", "data": []byte(text)}}},
	}
}

// makeHETU returns a valid identity code born on day/month/year with a
// given individual number.
func makeHETU(day, month, year, ind int) string {
	const check = "0123456789ABCDEFHJKLMNPRSTUVWXY"
	n := (day*10000+month*100+year%100)*1000 + ind
	sign := "-"
	if year >= 2000 {
		sign = "A"
	}
	return fmt.Sprintf("%02d%02d%02d%s%03d%c", day, month, year%100, sign, ind, check[n%31])
}

// scanTree returns every file under dirs that contains one of markers.
func scanTree(t testing.TB, markers []string, dirs ...string) []string {
	t.Helper()
	var hits []string
	for _, dir := range dirs {
		filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("read %s: %v", path, err)
				return nil
			}
			for _, m := range markers {
				if bytes.Contains(b, []byte(m)) || bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(m))) {
					hits = append(hits, fmt.Sprintf("%s contains %q", path, m))
				}
			}
			return nil
		})
	}
	return hits
}

func lines(r *bufio.Scanner) []string {
	var out []string
	for r.Scan() {
		out = append(out, r.Text())
	}
	return out
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// tryDo is do that returns transport errors instead of failing.
func (f *fixture) tryDo(email, method, path string, body any) (response, error) {
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(mustJSON(body)))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+f.tokens[email])
	resp, err := f.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, body: b, header: resp.Header}, nil
}
