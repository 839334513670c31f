package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
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
		var cosigned stringList
		fs.Var(&cosigned, "witness-checkpoint", "a cosigned checkpoint kept off the server (hush audit checkpoint once witnesses cosigned it); the log must hold at least as many events, with the same root (repeatable)")
		var pinned stringList
		fs.Var(&pinned, "witness-vkey", "a witness's key the auditor keeps: that witness must be configured and is asked (repeatable)")
		offline := fs.Bool("offline", false, "do not ask the configured witnesses for the latest size they cosigned")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return auditVerify(ctx, env, c.data, verifyFlags{checkpoint: *ckFile, vkey: *vkey, cosigned: cosigned, pinned: pinned, offline: *offline})
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
		name, err := cl.AddWitness(ctx, *url, *vkey)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "witness %s added; checkpoints go to it from the next one on\n", termSafe(name))
		return nil
	}
	return usage
}

// verifyFlags are hush audit verify's options.
type verifyFlags struct {
	checkpoint string   // the auditor's checkpoint file
	vkey       string   // the pinned log key
	cosigned   []string // cosigned checkpoint files
	pinned     []string // witness keys that must be configured and asked
	offline    bool     // do not ask the witnesses
}

// auditVerify checks the log with nothing but the database and the log's
// public key (no KEK), against what the auditor and the witnesses hold.
func auditVerify(ctx context.Context, env Env, dataDir string, o verifyFlags) error {
	ckFile, pinned := o.checkpoint, o.vkey
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
	// What the witnesses hold: cosigned checkpoints the auditor kept, and
	// the latest size each configured witness cosigned.
	var witnessed []audit.Witnessed
	var wkeys []string
	var ws []store.WitnessRow
	if err := db.Read(ctx, func(tx *store.Tx) error { var err error; ws, err = tx.Witnesses(); return err }); err != nil {
		return fmt.Errorf("the witnesses: %w", err)
	}
	for _, w := range ws {
		wkeys = append(wkeys, w.VKey)
	}
	for _, file := range o.cosigned {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("read witness checkpoint: %w", err)
		}
		w, n, err := audit.ParseWitnessed(filepath.Base(file), b, vkey, wkeys)
		if err != nil {
			return fmt.Errorf("audit log: the witness checkpoint %w", err)
		}
		fmt.Fprintf(env.Stdout, "checkpoint %s: size %d, %d witness cosignatures\n", termSafe(w.Source), w.Size, n)
		witnessed = append(witnessed, w)
	}
	if !o.offline && (len(ws) > 0 || len(o.pinned) > 0) {
		got, errs := audit.AskWitnesses(ctx, db, auditor, &http.Client{Timeout: 15 * time.Second}, o.pinned...)
		for _, w := range got {
			fmt.Fprintf(env.Stdout, "%s has cosigned %d events of this log\n", termSafe(w.Source), w.Size)
		}
		if len(errs) > 0 {
			// A witness that cannot be asked is no evidence: fail rather
			// than pass on what the server alone holds (--offline to skip).
			return fmt.Errorf("audit log: %w", errors.Join(errs...))
		}
		witnessed = append(witnessed, got...)
	}
	start := time.Now()
	res, err := audit.VerifyWith(ctx, db, vkey, audit.VerifyOptions{Auditor: auditor, Witnessed: witnessed})
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
	switch {
	case len(witnessed) > 0:
		fmt.Fprintf(env.Stdout, "consistent with %d witnessed checkpoints\n", len(witnessed))
	case len(ws) == 0:
		fmt.Fprintln(env.Stdout, "warning: no witness configured and no --witness-checkpoint given: a log cut short together with its later checkpoints would verify")
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
	if ev.Count > 1 {
		line += fmt.Sprintf("  (%d times)", ev.Count)
	}
	if ev.Private.Query != "" {
		line += fmt.Sprintf("  search %q", ev.Private.Query)
	}
	if ev.Private.ClientAddr != "" {
		line += "  from " + ev.Private.ClientAddr
	}
	return line
}
