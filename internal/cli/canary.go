package cli

import (
	"context"
	"fmt"
)

// runCanary adds canary records: honeytoken patients that look like real
// ones in every listing and search; opening one freezes the account.
func runCanary(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return fmt.Errorf("%w: hush canary add [--count N]", ErrUsage)
	}
	fs := flagSet("canary add", env)
	var c common
	c.register(fs, env)
	n := fs.Int("count", 1, "how many canaries to add, 1 to 100")
	cl, err := c.parseOpen(ctx, fs, args[1:])
	if err != nil {
		return err
	}
	defer cl.Close()
	if *n < 1 || *n > 100 {
		return fmt.Errorf("%w: --count must be 1 to 100", ErrUsage)
	}
	if _, err := cl.AddCanaries(ctx, *n); err != nil {
		return err
	}
	total, err := cl.CanaryCount(ctx)
	if err != nil {
		return err
	}
	// Which patients they are is not printed: a terminal's scrollback is
	// not the place for it.
	fmt.Fprintf(env.Stdout, "added %d canary records; the clinic has %d\n", *n, total)
	return nil
}
