package cli_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/clinic"
)

// TestRedSigninNoiseBelowReserve: below the audit log's disk reserve
// (256 MiB free) a stranger's rejected tokens are no longer logged, so
// that the events of real work never starve. A stranger's failed
// sign-ins under names no account has are the same noise, but each is
// still a durable login.failed event (its sealed name with it), down to
// the floor where every read stops: from many addresses (30 a quarter
// hour per IPv6 /64, no cap on sources) they eat the reserve the
// rejected-token throttle keeps. The data directory here is a small
// tmpfs with 150 MiB free. The defended outcome: below the reserve, a
// stranger's failed sign-ins under unknown names write nothing (or are
// aggregated as rejected tokens are).
func TestRedSigninNoiseBelowReserve(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	f := newFixture(t)
	small := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(small, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=320m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(small, syscall.MNT_DETACH) })
	if out, err := exec.Command("cp", "-a", f.data, small+"/").CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	f.data = filepath.Join(small, filepath.Base(f.data))
	var st syscall.Statfs_t
	if err := syscall.Statfs(small, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	ballast, err := os.Create(filepath.Join(small, "ballast"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Fallocate(int(ballast.Fd()), 0, 0, free-150<<20); err != nil {
		t.Fatal(err)
	}
	ballast.Close()
	f.serve()

	// The setup holds: a rejected token is not logged below the reserve.
	if r := f.doBearer("hush_00000000000000000000000000000000_AAAA", "GET", "/fhir/R4/Patient?name=a"); r.status != 401 {
		t.Fatalf("bad token: %d", r.status)
	}
	const addrs, each = 5, 4
	for a := 0; a < addrs; a++ {
		b := f.browser(t, fmt.Sprintf("127.0.1.%d", a+1))
		for i := 0; i < each; i++ {
			if p := b.post("/signin", url.Values{"email": {fmt.Sprintf("nobody%d.%d@elsewhere.example", a, i)}, "password": {"guess"}}); p.status != 401 {
				t.Fatalf("sign-in %d/%d: %d", a, i, p.status)
			}
		}
	}
	f.shutdown()
	cl := f.open()
	defer cl.Close()
	count := func(action string) int {
		evs, err := cl.SearchAudit(context.Background(), clinic.AuditQuery{ActionPrefix: action, Limit: clinic.MaxAuditPage})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	if n := count(audit.ActTokenRejected); n != 0 {
		t.Fatalf("below the reserve a rejected token was logged (%d): the setup does not hold", n)
	}
	if n := count(audit.ActLoginFailed); n > 0 {
		t.Errorf("below the disk reserve, %d failed sign-ins under unknown names from %d addresses wrote %d login.failed events: a stranger's noise eats the reserve kept for real work",
			addrs*each, addrs, n)
	}
}
