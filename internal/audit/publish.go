package audit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/hushepr/hush/internal/audit/witness"
	"github.com/hushepr/hush/internal/hush"
	"github.com/hushepr/hush/internal/seal"
	"github.com/hushepr/hush/internal/store"
)

// AddWitness configures a witness (C2SP tlog-witness) by its URL and vkey.
func (l *Log) AddWitness(ctx context.Context, url, vkey string) (string, error) {
	var name string
	err := l.db.ReadWrite(ctx, func(tx *store.Tx) error {
		var err error
		name, err = l.AddWitnessTx(tx, url, vkey)
		return err
	})
	return name, err
}

// AddWitnessTx configures a witness in tx (the clinic adds witnesses in
// its own transactions, which seal its state digest).
func (l *Log) AddWitnessTx(tx *store.Tx, url, vkey string) (string, error) {
	v, err := witness.NewCosignatureVerifier(vkey)
	if err != nil {
		return "", hush.Errorf(hush.EINVALID, "the witness key is not a cosignature/v1 verifier key")
	}
	w := store.WitnessRow{Name: v.Name(), URL: url, VKey: vkey, AddedAt: l.now().UnixMilli()}
	w.MAC = l.witnessMAC(w)
	return v.Name(), tx.InsertWitness(w)
}

// witnessMAC authenticates a witness's name, URL and key, so that a
// database writer cannot redirect the log's publication to a witness of
// their own (nil when the log has no head key: tests of the bare log).
func (l *Log) witnessMAC(w store.WitnessRow) []byte {
	if l.headKey == nil {
		return nil
	}
	return l.headKey.MAC(seal.AD("hush audit witness v1", l.origin, w.Name, w.URL, w.VKey))
}

// witnesses returns the configured witnesses whose rows verify. A row that
// does not is an alert and is not used: publication never goes to a URL
// the clinic did not configure.
func (l *Log) witnesses(ctx context.Context) ([]store.WitnessRow, error) {
	var ws []store.WitnessRow
	err := l.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		ws, err = tx.Witnesses()
		return err
	})
	if err != nil || l.headKey == nil {
		return ws, err
	}
	good := ws[:0]
	for _, w := range ws {
		if w.MAC == nil || !l.headKey.VerifyMAC(seal.AD("hush audit witness v1", l.origin, w.Name, w.URL, w.VKey), w.MAC) {
			l.alertOnce("witness.integrity:"+w.Name, "witness.integrity",
				"a configured witness's row fails its integrity check (its URL or key was changed in the database); it is not used")
			continue
		}
		good = append(good, w)
	}
	return good, nil
}

// StampWitnesses gives witness rows from before witness MACs existed
// their MAC (the one-time upgrade at open; see clinic's integrity upgrade).
func (l *Log) StampWitnesses(tx *store.Tx) error {
	ws, err := tx.Witnesses()
	if err != nil {
		return err
	}
	for _, w := range ws {
		if w.MAC == nil {
			if err := tx.SetWitnessMAC(w.Name, l.witnessMAC(w)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Publish signs a checkpoint if the log grew and sends the newest
// checkpoint, with a consistency proof, to every witness that has not yet
// cosigned it, keeping their cosignatures. A refusal raises an alert: a
// witness refuses a checkpoint that is not consistent with what it saw
// before, which is what a rewritten log looks like.
func (l *Log) Publish(ctx context.Context) (Checkpoint, error) {
	ck, err := l.Sign(ctx)
	if err != nil {
		return ck, err
	}
	ws, err := l.witnesses(ctx)
	if err != nil {
		return ck, err
	}
	var errs []error
	for _, w := range ws {
		if err := l.sendTo(ctx, w, ck); err != nil {
			errs = append(errs, err)
		}
	}
	return ck, errors.Join(errs...)
}

func (l *Log) sendTo(ctx context.Context, w store.WitnessRow, ck Checkpoint) error {
	v, err := witness.NewCosignatureVerifier(w.VKey)
	if err != nil {
		return err
	}
	var old int64
	err = l.db.Read(ctx, func(tx *store.Tx) error {
		old, err = tx.LatestCosigned(w.Name)
		return err
	})
	if err != nil || old >= ck.Size {
		return err
	}
	wc := &witness.Witness{URL: w.URL, Verifier: v, Client: &http.Client{Timeout: 15 * time.Second}}
	cosig, err := l.add(ctx, wc, old, ck)
	var conflict *witness.ConflictError
	if errors.As(err, &conflict) && conflict.Size != old && conflict.Size <= ck.Size {
		// The witness saw a different size last (our record of it was lost,
		// or it was fed elsewhere): prove consistency from what it has.
		cosig, err = l.add(ctx, wc, conflict.Size, ck)
	}
	if err != nil {
		kind, detail := "witness.refused", fmt.Sprintf("witness %s refused the checkpoint of size %d: %v", w.Name, ck.Size, err)
		var refused *witness.RefusedError
		switch {
		case errors.As(err, &conflict) && conflict.Size > ck.Size:
			// The witness has seen more of this log than the log now holds:
			// it was rolled back or forked.
			kind, detail = "witness.ahead", fmt.Sprintf("witness %s has seen %d events of this log but the log holds %d: it was rolled back or forked", w.Name, conflict.Size, ck.Size)
		case !errors.As(err, &conflict) && !errors.As(err, &refused):
			kind, detail = "witness.unreachable", fmt.Sprintf("witness %s could not be reached: %v", w.Name, err)
		}
		l.alertOnce(w.Name+" "+kind, kind, detail)
		return errors.New(detail)
	}
	return l.db.ReadWrite(ctx, func(tx *store.Tx) error {
		return tx.InsertCosignature(store.CosignatureRow{Size: ck.Size, Witness: w.Name, Signature: cosig, ReceivedAt: l.now().UnixMilli()})
	})
}

func (l *Log) add(ctx context.Context, wc *witness.Witness, old int64, ck Checkpoint) ([]byte, error) {
	var proof tlog.TreeProof
	if old > 0 {
		err := l.db.Read(ctx, func(tx *store.Tx) error {
			var err error
			proof, err = tlog.ProveTree(ck.Size, old, txReader{tx})
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return wc.Add(ctx, old, proof, ck.Note)
}

// Run publishes a checkpoint at once (so that a log cut short while the
// server was stopped is noticed at start), then every interval while there
// is new activity, and once more when ctx ends (shutdown).
func (l *Log) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	l.Publish(ctx)
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			l.Publish(sctx)
			cancel()
			return
		case <-t.C:
			l.Publish(ctx)
		}
	}
}
