package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/hushepr/hush/internal/seal"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runRecover(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] != "grant" {
		return fmt.Errorf("%w: hush recover grant --share FILE --share FILE --patient ID --email EMAIL", ErrUsage)
	}
	fs := flagSet("recover grant", env)
	var c common
	c.register(fs, env)
	var shareFiles stringList
	fs.Var(&shareFiles, "share", "a recovery share file (give it twice or more)")
	patient := fs.String("patient", "", "patient id")
	email := fs.String("email", "", "email of the clinician to grant the record to")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if len(shareFiles) < 2 || *patient == "" || *email == "" {
		return fmt.Errorf("%w: --share (at least twice), --patient and --email are required", ErrUsage)
	}
	// The shares and the key they rebuild live only in this process, which
	// dumps no core (Run) and wipes the shares before it returns. The
	// rebuilt key is a crypto/hpke key, which has no wipe method: nothing
	// holds it after the grant, and the process ends right after.
	var shares []seal.RecoveryShare
	defer func() {
		for i := range shares {
			shares[i].Wipe()
		}
	}()
	for _, f := range shareFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read share: %w", err)
		}
		s, err := seal.ParseRecoveryShare(b)
		clear(b)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		shares = append(shares, s)
	}
	cl, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	key, err := seal.CombineRecovery(shares, cl.RecoveryPublicKey())
	for i := range shares {
		shares[i].Wipe()
	}
	if err != nil {
		return err
	}
	if err := cl.RecoverGrant(ctx, key, *patient, *email); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "granted: the clinician is on the care team and can open every note of the record")
	return nil
}
