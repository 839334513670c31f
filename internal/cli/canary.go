package cli

import (
	"context"
	"fmt"
)

// runCanary plans canary records: honeytoken patients that look like real
// ones in every listing and search; opening one freezes the account. They
// are planted by the server among the coming registrations by reception
// and admins; --now makes them at once (for drills: a database reader can
// tell those apart by their time and creator).
func runCanary(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return fmt.Errorf("%w: hush canary add [--count N] [--now]", ErrUsage)
	}
	fs := flagSet("canary add", env)
	var c common
	c.register(fs, env)
	n := fs.Int("count", 1, "how many canaries to add, 1 to 100")
	now := fs.Bool("now", false, "make them at once instead of planting them among real registrations (for drills: they can be told apart)")
	cl, err := c.parseOpen(ctx, fs, args[1:])
	if err != nil {
		return err
	}
	defer cl.Close()
	if *n < 1 || *n > 100 {
		return fmt.Errorf("%w: --count must be 1 to 100", ErrUsage)
	}
	if *now {
		_, err = cl.AddCanaries(ctx, *n)
	} else {
		err = cl.PlanCanaries(ctx, *n)
	}
	if err != nil {
		return err
	}
	planted, pending, err := cl.CanaryCount(ctx)
	if err != nil {
		return err
	}
	// Which patients they are is not printed: a terminal's scrollback is
	// not the place for it.
	fmt.Fprintf(env.Stdout, "added %d canary records; the clinic has %d (%d still to be planted among registrations)\n", *n, planted+pending, pending)
	return nil
}
