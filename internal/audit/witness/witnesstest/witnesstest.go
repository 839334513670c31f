// Package witnesstest runs a real litewitness (filippo.io/torchwood v0.6.1)
// for tests: a dedicated ssh-agent holding a fresh Ed25519 key, litewitness
// with its own SQLite database, and the log under test registered in it.
//
// Needed on the machine: ssh-agent, ssh-add and ssh-keygen (Debian's
// openssh-client) and either litewitness on PATH or a Go toolchain that can
// `go install filippo.io/torchwood/cmd/litewitness@v0.6.1`.
package witnesstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	_ "modernc.org/sqlite" // to register the log in litewitness's database

	"github.com/hushepr/hush/internal/audit/witness"
)

// LitewitnessVersion is the torchwood release whose litewitness is used.
const LitewitnessVersion = "v0.6.1"

const litewitnessPkg = "filippo.io/torchwood/cmd/litewitness"

// Name is the witness name (the key name in its cosignature lines).
const Name = "witness.hush.test/litewitness"

// Start runs a real litewitness on 127.0.0.1 (ssh-agent + ssh-keygen ed25519
// key + ssh-add, litewitness with its own database in t.TempDir()), registers
// the log origin with the log's note verifier key logVKey, and returns the
// witness ready to use. Processes are stopped in t.Cleanup.
//
// litewitness looks up a checkpoint's keys by its origin line and then
// verifies the note's signatures by key name and hash, so the log's signing
// key name should equal origin.
//
// If litewitness is not on PATH it is built with `go install` into a cache
// directory. Start fails the test (it never skips) when something is missing.
func Start(t testing.TB, origin, logVKey string) *witness.Witness {
	t.Helper()
	if _, err := note.NewVerifier(logVKey); err != nil {
		t.Fatalf("witnesstest: log verifier key %q: %v", logVKey, err)
	}
	if strings.ContainsAny(origin, "\n") || origin == "" {
		t.Fatalf("witnesstest: invalid origin %q", origin)
	}
	for _, tool := range []string{"ssh-agent", "ssh-add", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("witnesstest: %s not found (install Debian's openssh-client: apt-get install -y openssh-client): %v", tool, err)
		}
	}
	litewitness := litewitnessBinary(t)

	dir := t.TempDir()
	// ssh-agent's socket path must fit in sun_path (108 bytes), which
	// t.TempDir() paths with long test names can exceed.
	sockDir, err := os.MkdirTemp("", "lw")
	if err != nil {
		t.Fatalf("witnesstest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "agent.sock")

	// Witness key.
	keyFile := filepath.Join(dir, "witness_key")
	run(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hush-witnesstest", "-f", keyFile)
	pub, fingerprint := readSSHEd25519PublicKey(t, keyFile+".pub")
	vkey := cosignatureVKey(Name, pub)

	// Dedicated ssh-agent in the foreground (-D), stopped in cleanup.
	agentEnv := append(envWithout("SSH_AUTH_SOCK", "SSH_AGENT_PID"), "SSH_AUTH_SOCK="+sock)
	agent := startProcess(t, "ssh-agent", syscall.SIGTERM, agentEnv, "ssh-agent", "-D", "-a", sock)
	waitFor(t, agent, 10*time.Second, "ssh-agent socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil
	})
	run(t, agentEnv, "ssh-add", keyFile)

	// litewitness. The port is picked by the kernel and released just
	// before litewitness binds it; retry if another process took it.
	db := filepath.Join(dir, "litewitness.db")
	var lw *process
	var addr string
	for attempt := 0; ; attempt++ {
		addr = freeAddr(t)
		lw = startProcess(t, "litewitness", os.Interrupt, envWithout("SSH_AUTH_SOCK"), litewitness,
			"-db", db, "-name", Name, "-ssh-agent", sock, "-key", fingerprint, "-listen", addr)
		ok := waitForNoFail(lw, 20*time.Second, func() bool { return httpOK("http://" + addr + "/") })
		if ok {
			break
		}
		lw.stop()
		if attempt < 2 && strings.Contains(lw.output(), "address already in use") {
			continue
		}
		t.Fatalf("witnesstest: litewitness did not start listening on %s; its output:\n%s", addr, lw.output())
	}

	// Cross-check the vkey computed here with the one litewitness logs.
	if m := regexp.MustCompile(`vkey="?([^\s"]+)`).FindStringSubmatch(lw.output()); m == nil || m[1] != vkey {
		t.Fatalf("witnesstest: litewitness verifier key is not %q; its output:\n%s", vkey, lw.output())
	}

	registerLog(t, db, origin, logVKey)
	// litewitness's index page lists the logs it knows.
	page := httpGet(t, "http://"+addr+"/")
	if !strings.Contains(page, origin) {
		t.Fatalf("witnesstest: litewitness does not list log %q after registration:\n%s", origin, page)
	}

	v, err := witness.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatalf("witnesstest: %v", err)
	}
	return &witness.Witness{
		URL:      "http://" + addr,
		Verifier: v,
		Client:   &http.Client{Timeout: 30 * time.Second},
	}
}

// registerLog does what `witnessctl add-log` and `witnessctl add-key` do
// (witnessctl itself cannot be built here: one of its dependencies is not
// served by the module proxy). litewitness has already created the tables.
func registerLog(t testing.TB, dbPath, origin, logVKey string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatalf("witnesstest: opening litewitness database: %v", err)
	}
	defer db.Close()
	emptyTree := sha256.Sum256(nil) // RFC 6962 hash of the empty tree
	if _, err := db.Exec("INSERT INTO log (origin, tree_size, tree_hash) VALUES (?, 0, ?)",
		origin, base64.StdEncoding.EncodeToString(emptyTree[:])); err != nil {
		t.Fatalf("witnesstest: adding log %q to litewitness: %v", origin, err)
	}
	if _, err := db.Exec("INSERT INTO key (origin, key) VALUES (?, ?)", origin, logVKey); err != nil {
		t.Fatalf("witnesstest: adding key for log %q to litewitness: %v", origin, err)
	}
}

// cosignatureVKey is the c2sp.org/tlog-cosignature vkey of an Ed25519 key.
func cosignatureVKey(name string, pub []byte) string {
	key := append([]byte{0x04}, pub...)
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write(key)
	return fmt.Sprintf("%s+%08x+%s", name, binary.BigEndian.Uint32(h.Sum(nil)), base64.StdEncoding.EncodeToString(key))
}

// readSSHEd25519PublicKey parses an OpenSSH "ssh-ed25519 <base64> comment"
// line into the raw key and its "SHA256:" fingerprint (what litewitness -key
// takes).
func readSSHEd25519PublicKey(t testing.TB, path string) (pub []byte, fingerprint string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("witnesstest: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 || f[0] != "ssh-ed25519" {
		t.Fatalf("witnesstest: %s is not an ssh-ed25519 public key", path)
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		t.Fatalf("witnesstest: %s: %v", path, err)
	}
	// string "ssh-ed25519" || string key, each uint32-length-prefixed.
	const typ = "ssh-ed25519"
	if len(blob) != 4+len(typ)+4+32 || string(blob[4:4+len(typ)]) != typ ||
		binary.BigEndian.Uint32(blob[4+len(typ):]) != 32 {
		t.Fatalf("witnesstest: %s: unexpected ssh-ed25519 key encoding", path)
	}
	sum := sha256.Sum256(blob)
	return blob[len(blob)-32:], "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

var buildMu sync.Mutex

// litewitnessBinary returns the path of litewitness: on PATH, or built once
// with go install into the user cache directory.
func litewitnessBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("litewitness"); err == nil {
		return p
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "hush-witnesstest", "torchwood-"+LitewitnessVersion)
	p := filepath.Join(bin, "litewitness")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("witnesstest: litewitness is not on PATH and there is no go command to build it: %v", err)
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatalf("witnesstest: %v", err)
	}
	t.Logf("witnesstest: building litewitness %s into %s", LitewitnessVersion, bin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "install", litewitnessPkg+"@"+LitewitnessVersion)
	cmd.Dir = bin // outside this module
	cmd.Env = append(envWithout("GOBIN", "GOFLAGS"), "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("witnesstest: litewitness is not on PATH and `go install %s@%s` failed: %v\n%s",
			litewitnessPkg, LitewitnessVersion, err, out)
	}
	return p
}

// process is a started child process whose output is kept.
type process struct {
	name string
	sig  os.Signal // asks the process to exit
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	once sync.Once
}

func startProcess(t testing.TB, name string, sig os.Signal, env []string, prog string, args ...string) *process {
	t.Helper()
	p := &process{name: name, sig: sig, out: new(syncBuffer), done: make(chan struct{})}
	p.cmd = exec.Command(prog, args...)
	p.cmd.Env = env
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("witnesstest: starting %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("witnesstest: %s output:\n%s", name, p.output())
		}
	})
	return p
}

// stop signals the process (litewitness shuts down cleanly on SIGINT,
// ssh-agent on SIGTERM), then kills it if it has not exited after 5 seconds.
func (p *process) stop() {
	p.once.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		p.cmd.Process.Signal(p.sig)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) output() string { return p.out.String() }

func waitForNoFail(p *process, d time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return true
		}
		if p.exited() {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func waitFor(t testing.TB, p *process, d time.Duration, what string, ok func() bool) {
	t.Helper()
	if !waitForNoFail(p, d, ok) {
		t.Fatalf("witnesstest: waiting for %s failed (exited: %v); %s output:\n%s", what, p.exited(), p.name, p.output())
	}
}

func run(t testing.TB, env []string, prog string, args ...string) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	if env != nil {
		cmd.Env = env
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("witnesstest: %s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("witnesstest: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func httpOK(url string) bool {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func httpGet(t testing.TB, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("witnesstest: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("witnesstest: GET %s: %v %v", url, resp.Status, err)
	}
	return string(b)
}

func envWithout(names ...string) []string {
	var env []string
outer:
	for _, kv := range os.Environ() {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue outer
			}
		}
		env = append(env, kv)
	}
	return env
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
