package cli_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hushepr/hush/internal/cli"
	"github.com/hushepr/hush/internal/clinic"
)

func runCLI(args []string, env map[string]string) (string, error) {
	var out bytes.Buffer
	err := cli.Run(context.Background(), args, cli.Env{Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: io.Discard})
	return out.String(), err
}

// TestInitRefusals: init refuses layouts that would put the key next to
// the data it opens, and reports usage errors clearly.
func TestInitRefusals(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	env := map[string]string{"HUSH_PASSWORD": testPassword}
	base := func(kek, shares string) []string {
		return []string{"init", "--data", data, "--kek-file", kek, "--clinic", "C", "--admin", "a@b.fi", "--shares-dir", shares}
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"kek inside data", base(filepath.Join(data, "hush.kek"), filepath.Join(root, "s")), env, "key file inside the data directory"},
		{"kek is data", base(data, filepath.Join(root, "s")), env, "key file inside the data directory"},
		{"shares inside data", base(filepath.Join(root, "k"), filepath.Join(data, "shares")), env, "shares inside the data directory"},
		{"no password", base(filepath.Join(root, "k"), filepath.Join(root, "s")), nil, "HUSH_PASSWORD"},
		{"short password", base(filepath.Join(root, "k"), filepath.Join(root, "s")), map[string]string{"HUSH_PASSWORD": "short"}, "at least 12"},
		{"missing flags", []string{"init", "--data", data, "--kek-file", filepath.Join(root, "k")}, env, "required"},
		{"unknown flag", []string{"init", "--nope"}, env, "not defined"},
		{"unknown command", []string{"frobnicate"}, env, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runCLI(tt.args, tt.env)
			if err == nil || !strings.Contains(cli.Message(err), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(root, "k")); err == nil {
				t.Fatal("a failed init left a key file behind")
			}
			if entries, _ := os.ReadDir(data); len(entries) > 0 {
				t.Fatal("a failed init left data behind")
			}
		})
	}
	// A working init, then a second one over it is refused.
	out, err := runCLI(base(filepath.Join(root, "k"), filepath.Join(root, "s")), env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Recovery key fingerprint") || !strings.Contains(out, "recovery-share-3.txt") {
		t.Errorf("init output:\n%s", out)
	}
	for _, p := range []string{filepath.Join(root, "k"), filepath.Join(root, "s", "recovery-share-1.txt")} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v mode %v", p, err, fi)
		}
	}
	if _, err := runCLI(base(filepath.Join(root, "k2"), filepath.Join(root, "s2")), env); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("second init: %v", err)
	}
	// Using the wrong key file says so.
	os.WriteFile(filepath.Join(root, "k3"), []byte("hush-kek-v1:"+strings.Repeat("A", 43)+"=\n"), 0o600)
	if _, err := runCLI([]string{"user", "list", "--data", data, "--kek-file", filepath.Join(root, "k3")}, nil); err == nil || !strings.Contains(cli.Message(err), "wrong --kek-file") {
		t.Errorf("wrong key file: %v", err)
	}
	if _, err := runCLI([]string{"user", "list", "--data", data}, nil); !errors.Is(err, cli.ErrUsage) {
		t.Errorf("missing --kek-file: %v", err)
	}
}

// TestUserAndTokenCommands drives user and token administration.
func TestUserAndTokenCommands(t *testing.T) {
	f := newFixture(t, "doc@test.hush=clinician")
	list := f.run("user", "list")
	if !strings.Contains(list, "doc@test.hush") || !strings.Contains(list, "clinician\tactive") {
		t.Errorf("user list:\n%s", list)
	}
	if _, err := f.try("user", "add", "--email", "doc@test.hush", "--name", "Dup", "--role", "clinician", "--password-file", f.pwFile); err == nil || !strings.Contains(cli.Message(err), "already exists") {
		t.Errorf("duplicate user: %v", err)
	}
	if _, err := f.try("user", "add", "--email", "x@test.hush", "--name", "X", "--role", "boss", "--password-file", f.pwFile); err == nil || !strings.Contains(cli.Message(err), "role") {
		t.Errorf("bad role: %v", err)
	}
	bad := filepath.Join(f.root, "badpw")
	os.WriteFile(bad, []byte("wrong password entirely\n"), 0o600)
	if _, err := f.try("token", "create", "--email", "doc@test.hush", "--password-file", bad); err == nil || !strings.Contains(cli.Message(err), "wrong") {
		t.Errorf("token with wrong password: %v", err)
	}
	toks := f.run("token", "list", "--email", "doc@test.hush")
	if strings.Count(toks, "active") != 1 {
		t.Errorf("token list:\n%s", toks)
	}
	id := strings.Fields(toks)[0]
	f.run("token", "revoke", "--id", id)
	if !strings.Contains(f.run("token", "list", "--email", "doc@test.hush"), "revoked") {
		t.Error("token not listed as revoked")
	}
	if _, err := f.try("token", "revoke", "--id", id); err == nil {
		t.Error("revoking twice succeeded")
	}
	f.run("user", "deactivate", "--email", "doc@test.hush")
	if !strings.Contains(f.run("user", "list"), "deactivated") {
		t.Error("deactivated user not listed as such")
	}
}

// TestInitWithGivenCertificate: a certificate given at init is stored
// (its key sealed) and served.
func TestInitWithGivenCertificate(t *testing.T) {
	root := t.TempDir()
	// make a certificate with another init's self-signed one
	f0 := newFixture(t)
	cl := f0.open()
	certPEM, keyPEM, err := cl.TLS(context.Background())
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "cert.pem"), certPEM, 0o600)
	os.WriteFile(filepath.Join(root, "key.pem"), keyPEM, 0o600)
	env := map[string]string{"HUSH_PASSWORD": testPassword}
	args := []string{"init", "--data", filepath.Join(root, "data"), "--kek-file", filepath.Join(root, "kek"), "--clinic", "C",
		"--admin", "a@b.fi", "--shares-dir", filepath.Join(root, "s"), "--tls-cert", filepath.Join(root, "cert.pem"), "--tls-key", filepath.Join(root, "cert.pem")}
	if _, err := runCLI(args, env); err == nil || !strings.Contains(err.Error(), "pair") {
		t.Fatalf("mismatched key: %v", err)
	}
	args[len(args)-1] = filepath.Join(root, "key.pem")
	if _, err := runCLI(args, env); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, data: filepath.Join(root, "data"), kek: filepath.Join(root, "kek")}
	cl = f.open()
	got, _, err := cl.TLS(context.Background())
	planted, pending, cerr := cl.CanaryCount(context.Background())
	cl.Close()
	if err != nil || !bytes.Equal(got, certPEM) {
		t.Fatalf("stored certificate differs: %v", err)
	}
	// hush init plans the default canaries, planted among registrations.
	if cerr != nil || planted != 0 || pending != clinic.DefaultCanaries {
		t.Fatalf("%d canaries planted and %d planned after init, want 0 and %d (%v)", planted, pending, clinic.DefaultCanaries, cerr)
	}
}

// TestDemoData: the demo's clinic has what the README promises — staff,
// 50 patients, a few hundred notes, today's appointments and measures —
// and its audit log verifies.
func TestDemoData(t *testing.T) {
	if testing.Short() {
		t.Skip("demo build")
	}
	out, err := cli.BuildDemoForTest(context.Background(), t.TempDir(), 50)
	if err != nil {
		t.Fatal(err)
	}
	if out.Patients != 50+3 || // 3 canaries
		out.Notes < 200 || out.Appointments < 6 || out.Measures < 9 || !out.AuditVerified {
		t.Fatalf("demo: %+v", out)
	}
}
