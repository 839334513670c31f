package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/seal"
)

func runBackup(ctx context.Context, env Env, args []string) error {
	verifyOnly := len(args) > 0 && args[0] == "verify"
	if verifyOnly {
		args = args[1:]
	}
	fs := flagSet("backup", env)
	var c common
	c.register(fs, env)
	out := fs.String("out", "", "backup file to write (or, with verify, to check); must not exist")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: --out is required", ErrUsage)
	}
	if c.kekFile == "" {
		return fmt.Errorf("%w: --kek-file is required", ErrUsage)
	}
	kek, err := seal.LoadKEKFile(c.kekFile)
	if err != nil {
		return err
	}
	defer kek.Wipe()
	var rep clinic.BackupReport
	if verifyOnly {
		rep, err = clinic.VerifyBackup(ctx, *out, kek)
	} else {
		cl, err2 := c.open(ctx)
		if err2 != nil {
			return err2
		}
		defer cl.Close()
		start := time.Now()
		rep, err = cl.Backup(ctx, *out, kek)
		if err == nil {
			fmt.Fprintf(env.Stdout, "wrote %s in %s\n", *out, time.Since(start).Round(time.Millisecond))
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "verified: %d users, %d patients, %d note versions, %d grants\n", rep.Users, rep.Patients, rep.NoteVersions, rep.Grants)
	return nil
}
