package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/hushepr/hush/internal/audit"
	"github.com/hushepr/hush/internal/clinic"
	"github.com/hushepr/hush/internal/store"
)

var helsinki = func() *time.Location {
	if l, err := time.LoadLocation("Europe/Helsinki"); err == nil {
		return l
	}
	return time.UTC
}()

func runAudit(ctx context.Context, env Env, args []string) error {
	usage := fmt.Errorf("%w: hush audit verify|checkpoint|show|prove|witness", ErrUsage)
	if len(args) == 0 {
		return usage
	}
	fs := flagSet("audit "+args[0], env)
	var c common
	c.register(fs, env)
	switch args[0] {
	case "verify":
		ckFile := fs.String("checkpoint", "", "a checkpoint saved earlier by an auditor (hush audit checkpoint); the log must be consistent with it")
		vkey := fs.String("vkey", env.Getenv("HUSH_AUDIT_VKEY"), "the log's public key as printed by hush init, kept by the auditor (env HUSH_AUDIT_VKEY); without it the key stored in the database is trusted")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return auditVerify(ctx, env, c.data, *ckFile, *vkey)
	case "checkpoint":
		cl, err := c.parseOpen(ctx, fs, args[1:])
		if err != nil {
			return err
		}
		defer cl.Close()
		// Sign the log as it is now and send it to the witnesses, so that the
		// checkpoint an auditor takes away carries their cosignatures.
		if _, err := cl.Audit().Publish(ctx); err != nil {
			if _, err2 := cl.Audit().Latest(ctx); err2 != nil {
				return err
			}
			fmt.Fprintf(env.Stderr, "warning: %v\n", err)
		}
		ck, err := cl.Audit().Latest(ctx)
		if err != nil {
			return err
		}
		_, err = env.Stdout.Write(ck.Note)
		return err
	case "show":
		patient := fs.String("patient", "", "only events of this patient id")
		actorEmail := fs.String("actor", "", "only events by this account (email)")
		since := fs.String("since", "", "only events at or after this time (YYYY-MM-DD or RFC 3339)")
		limit := fs.Int("limit", clinic.MaxAuditPage, "at most this many events (the newest)")
		cl, err := c.parseOpen(ctx, fs, args[1:])
		if err != nil {
			return err
		}
		defer cl.Close()
		q := clinic.AuditQuery{PatientID: *patient, Limit: *limit}
		if *actorEmail != "" {
			u, err := cl.UserByEmail(ctx, *actorEmail)
			if err != nil {
				return err
			}
			q.ActorID = u.ID
		}
		if *since != "" {
			t, err := time.ParseInLocation(time.DateOnly, *since, helsinki)
			if err != nil {
				if t, err = time.Parse(time.RFC3339, *since); err != nil {
					return fmt.Errorf("%w: --since must be YYYY-MM-DD or RFC 3339", ErrUsage)
				}
			}
			q.Since = t
		}
		evs, err := cl.SearchAudit(ctx, q)
		if err != nil {
			return err
		}
		sort.Slice(evs, func(i, j int) bool { return evs[i].Index < evs[j].Index })
		for _, ev := range evs {
			fmt.Fprintln(env.Stdout, termSafe(showLine(ctx, cl, ev)))
		}
		return nil
	case "prove":
		index := fs.Int64("index", -1, "event index")
		cl, err := c.parseOpen(ctx, fs, args[1:])
		if err != nil {
			return err
		}
		defer cl.Close()
		p, err := cl.Audit().Prove(ctx, *index)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "index %d\nleaf %s\nrecord %s\n", p.Index, base64.StdEncoding.EncodeToString(p.Leaf[:]), base64.StdEncoding.EncodeToString(p.Record))
		fmt.Fprintf(env.Stdout, "proof (%d hashes):\n", len(p.Hashes))
		for _, h := range p.Hashes {
			fmt.Fprintln(env.Stdout, base64.StdEncoding.EncodeToString(h[:]))
		}
		fmt.Fprintf(env.Stdout, "checkpoint:\n%s", p.Checkpoint.Note)
		return nil
	case "witness":
		url := fs.String("url", "", "the witness's base URL (add-checkpoint is under it)")
		vkey := fs.String("vkey", "", "the witness's cosignature/v1 verifier key")
		cl, err := c.parseOpen(ctx, fs, args[1:])
		if err != nil {
			return err
		}
		defer cl.Close()
		if *url == "" || *vkey == "" {
			return fmt.Errorf("%w: --url and --vkey are required", ErrUsage)
		}
		name, err := cl.Audit().AddWitness(ctx, *url, *vkey)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "witness %s added; checkpoints go to it from the next one on\n", termSafe(name))
		return nil
	}
	return usage
}

// auditVerify checks the log with nothing but the database and the log's
// public key (no KEK).
func auditVerify(ctx context.Context, env Env, dataDir, ckFile, pinned string) error {
	if dataDir == "" {
		return fmt.Errorf("%w: --data is required", ErrUsage)
	}
	var auditor []byte
	if ckFile != "" {
		b, err := os.ReadFile(ckFile)
		if err != nil {
			return fmt.Errorf("read checkpoint: %w", err)
		}
		auditor = b
	}
	db, err := store.OpenReadOnly(ctx, filepath.Join(dataDir, store.FileName))
	if err != nil {
		return fmt.Errorf("open the database: %w", err)
	}
	defer db.Close()
	vkey, err := clinic.AuditVerifierKeyOf(ctx, db)
	if err != nil {
		return fmt.Errorf("the log's public key: %w", err)
	}
	switch {
	case pinned == "":
		fmt.Fprintln(env.Stderr, "warning: no --vkey given: trusting the log key stored in the database, which whoever can write the database could have replaced")
	case pinned != vkey:
		return errors.New("audit log: the log's public key in the database is not the one you pinned (--vkey): the log may have been replaced")
	}
	start := time.Now()
	res, err := audit.Verify(ctx, db, vkey, auditor)
	if err != nil {
		var ve *audit.VerifyError
		if errors.As(err, &ve) {
			return err
		}
		return fmt.Errorf("verify: %w", err)
	}
	fmt.Fprintf(env.Stdout, "audit log verified in %s: size %d, root %s\n", time.Since(start).Round(time.Millisecond), res.Size, base64.StdEncoding.EncodeToString(res.Root[:]))
	fmt.Fprintf(env.Stdout, "%d signed checkpoints (newest covers %d events), %d witness cosignatures\n", res.Checkpoints, res.Signed, res.Cosignatures)
	if res.Checkpoints == 0 && res.Size > 0 {
		fmt.Fprintln(env.Stdout, "warning: no signed checkpoint: nothing proves these events were not cut short or replaced")
	}
	if res.Size > res.Signed {
		fmt.Fprintf(env.Stdout, "%d newest events are not yet in a signed checkpoint\n", res.Size-res.Signed)
	}
	return nil
}

// showLine renders one event, names resolved now (they are not in the log).
func showLine(ctx context.Context, cl *clinic.Clinic, ev clinic.AuditView) string {
	who := ev.ActorName
	if who == "" {
		who = ev.ActorID
		if who == "" {
			who = "unknown"
			if ev.Private.Email != "" {
				who = "unknown (" + ev.Private.Email + ")"
			}
		}
	}
	line := fmt.Sprintf("%6d  %s  %s (%s)  %s", ev.Index, ev.Time.In(helsinki).Format("2006-01-02 15:04:05"), who, ev.ActorRole, ev.Action)
	if ev.PatientID != "" {
		name := cl.DisplayName(ctx, ev.PatientID)
		if name == "" {
			name = ev.PatientID
		}
		line += "  patient " + name
	}
	if ev.Entity != "" {
		line += "  " + ev.Entity
	}
	line += "  " + ev.Outcome + "  purpose " + ev.Purpose
	if ev.Private.Query != "" {
		line += fmt.Sprintf("  search %q", ev.Private.Query)
	}
	if ev.Private.ClientAddr != "" {
		line += "  from " + ev.Private.ClientAddr
	}
	return line
}
