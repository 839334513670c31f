package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hushepr/hush/internal/cli"
)

// coreState is what a process reports about its own core dumps.
type coreState struct {
	Dumpable  uintptr // prctl(PR_GET_DUMPABLE): 0 is not dumpable
	CoreSoft  uint64
	CoreHard  uint64
	Err       string // the command's error, if it failed
	Completed bool
}

func readCoreState() coreState {
	var s coreState
	s.Dumpable, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_GET_DUMPABLE, 0, 0)
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_CORE, &lim)
	s.CoreSoft, s.CoreHard = lim.Cur, lim.Max
	return s
}

// cancelOnServing cancels a context when a command prints its "serving"
// line: a long-running command has then done all its set-up.
type cancelOnServing struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	cancel context.CancelFunc
}

func (w *cancelOnServing) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), []byte("\nserving ")) || bytes.HasPrefix(w.buf.Bytes(), []byte("serving ")) {
		w.cancel()
	}
	return len(p), nil
}

// TestInsiderCoreDumpHelper is not a test: TestInsiderNoCoreDumps runs this
// binary with HUSH_CORE_HELPER set to a JSON list of hush arguments. The
// helper makes core dumps possible (as a shell with ulimit -c unlimited
// would), runs the command in this process until it is done or serving,
// and prints what the process then says about its own core dumps.
func TestInsiderCoreDumpHelper(t *testing.T) {
	spec := os.Getenv("HUSH_CORE_HELPER")
	if spec == "" {
		t.Skip("helper process of TestInsiderNoCoreDumps")
	}
	var args []string
	if err := json.Unmarshal([]byte(spec), &args); err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_CORE, &lim)
	if syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{Cur: ^uint64(0), Max: ^uint64(0)}) != nil {
		syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{Cur: lim.Max, Max: lim.Max})
	}
	before := readCoreState()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := cli.Run(ctx, args, cli.Env{Getenv: func(string) string { return "" }, Stdout: &cancelOnServing{cancel: cancel}, Stderr: io.Discard})
	after := readCoreState()
	after.Completed = true
	if err != nil {
		after.Err = cli.Message(err)
	}
	b, _ := json.Marshal([2]coreState{before, after})
	fmt.Printf("\nhush-core-state %s\n", b)
	os.Exit(0)
}

// runCoreHelper runs args as a hush command in a helper process and returns
// the process's core-dump state before and after the command.
func runCoreHelper(t *testing.T, env []string, args ...string) (before, after coreState) {
	t.Helper()
	spec, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestInsiderCoreDumpHelper$")
	cmd.Env = append(append(os.Environ(), "HUSH_CORE_HELPER="+string(spec)), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, stderr.Bytes())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "hush-core-state "); ok {
			var st [2]coreState
			if err := json.Unmarshal([]byte(rest), &st); err != nil {
				t.Fatal(err)
			}
			if st[1].Err != "" {
				t.Fatalf("hush %s: %s", args[0], st[1].Err)
			}
			return st[0], st[1]
		}
	}
	t.Fatalf("helper printed no state:\n%s\n%s", out, stderr.Bytes())
	return
}

// TestInsiderNoCoreDumps: hush recover (holding the rebuilt recovery key)
// and hush demo (holding every demo user's key) run in processes that
// cannot dump core and that another process of the same user cannot
// attach to or read, like hush serve.
//
// The helper can raise RLIMIT_CORE only as far as this process's hard limit,
// which any hush command run in this process has set to zero: then only the
// dumpable flag is checked (the demo runs first so that, alone, the test
// checks both).
func TestInsiderNoCoreDumps(t *testing.T) {
	t.Run("demo", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds a demo clinic")
		}
		before, after := runCoreHelper(t, []string{"TMPDIR=" + t.TempDir()}, "demo", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--patients", "1")
		checkNoCore(t, before, after)
	})
	t.Run("recover", func(t *testing.T) {
		f := newFixture(t, "leaving@test.hush=clinician", "new@test.hush=clinician")
		f.serve()
		p := f.must(201, f.do("leaving@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Laine", "Helmi", makeHETU(5, 6, 2001, 222), "+358 40 555 0000")))
		f.shutdown()
		share := func(i int) string { return filepath.Join(f.shares, fmt.Sprintf("recovery-share-%d.txt", i)) }
		before, after := runCoreHelper(t, nil, "recover", "grant", "--data", f.data, "--kek-file", f.kek,
			"--share", share(1), "--share", share(2), "--patient", p["id"].(string), "--email", "new@test.hush")
		checkNoCore(t, before, after)
	})
}

func checkNoCore(t *testing.T, before, after coreState) {
	t.Helper()
	if before.Dumpable == 0 {
		t.Fatalf("the helper started not dumpable: %+v", before)
	}
	if !after.Completed {
		t.Fatal("the command did not finish")
	}
	if after.Dumpable != 0 {
		t.Errorf("process still dumpable (PR_GET_DUMPABLE = %d)", after.Dumpable)
	}
	if before.CoreSoft == 0 {
		t.Log("RLIMIT_CORE was zero to begin with (an earlier hush command in this test process lowered it); checked the dumpable flag only")
	} else if after.CoreSoft != 0 || after.CoreHard != 0 {
		t.Errorf("RLIMIT_CORE = %d/%d, want 0/0", after.CoreSoft, after.CoreHard)
	}
}

// TestInsiderPrivateFiles: with a permissive umask (000) and a data
// directory that already exists with mode 0755, hush init makes the
// directory 0700 and every file the clinic writes (the database, its WAL
// and shared-memory files, the log, a backup) 0600.
func TestInsiderPrivateFiles(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	root := t.TempDir()
	f := &fixture{t: t, root: root, data: filepath.Join(root, "data"), kek: filepath.Join(root, "keys", "hush.kek"),
		shares: filepath.Join(root, "shares"), pwFile: filepath.Join(root, "pw"), tokens: map[string]string{}, ids: map[string]string{}, enrol: map[string]string{}}
	for _, dir := range []string{f.data, filepath.Dir(f.kek)} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(f.pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.run("init", "--clinic", "Test Clinic", "--admin", "admin@test.hush", "--password-file", f.pwFile, "--shares-dir", f.shares, "--canaries", "0")
	f.addUser("doc@test.hush", "clinician")
	f.serve()
	f.must(201, f.do("doc@test.hush", "POST", "/fhir/R4/Patient", patientJSON("Laine", "Helmi", makeHETU(5, 6, 2001, 222), "+358 40 555 0000")))
	backup := filepath.Join(f.data, "backup.db")
	f.run("backup", "--data", f.data, "--kek-file", f.kek, "--out", backup)

	// While the server runs, the WAL and shared-memory files exist.
	seen := map[string]bool{}
	filepath.WalkDir(f.data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		info, err := d.Info()
		if err != nil {
			t.Fatal(err)
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: mode %#o, want %#o", path, got, want)
		}
		seen[filepath.Base(path)] = true
		return nil
	})
	for _, name := range []string{"hush.db", "hush.db-wal", "hush.db-shm", "hush.log", "backup.db"} {
		if !seen[name] {
			t.Errorf("%s was not made, so its mode went unchecked", name)
		}
	}
}
