package store

import (
	"database/sql"
	"strings"
)

const (
	qAuditSize        = `SELECT max(idx) FROM audit_events`
	qInsertAuditEvent = `INSERT INTO audit_events (idx, time, actor_id, patient_id, action, record) VALUES (?,?,?,?,?,?)`
	qInsertAuditHash  = `INSERT INTO audit_hashes (id, hash) VALUES (?, ?)`
	qAuditHash        = `SELECT hash FROM audit_hashes WHERE id = ?`
)

// AuditRow is one audit event as stored.
type AuditRow struct {
	Index     int64
	Time      int64
	ActorID   string
	PatientID string
	Action    string
	Record    []byte
}

// AuditSize returns the number of events in the log.
func (t *Tx) AuditSize() (int64, error) {
	var n sql.NullInt64
	s, err := t.stmt(qAuditSize)
	if err != nil {
		return 0, err
	}
	err = s.QueryRow().Scan(&n)
	if !n.Valid {
		return 0, err
	}
	return n.Int64 + 1, err
}

// InsertAuditEvent appends an event. ECONFLICT if the index is taken.
func (t *Tx) InsertAuditEvent(r AuditRow) error {
	s, err := t.stmt(qInsertAuditEvent)
	if err != nil {
		return err
	}
	_, err = s.Exec(r.Index, r.Time, r.ActorID, r.PatientID, r.Action, r.Record)
	return err
}

// InsertAuditHashes stores tree hashes with consecutive ids from first.
func (t *Tx) InsertAuditHashes(first int64, hashes [][]byte) error {
	s, err := t.stmt(qInsertAuditHash)
	if err != nil {
		return err
	}
	for i, h := range hashes {
		if _, err := s.Exec(first+int64(i), h); err != nil {
			return err
		}
	}
	return nil
}

// AuditHashes reads tree hashes by id, in the order asked. ENOTFOUND if one
// is missing.
func (t *Tx) AuditHashes(ids []int64) ([][]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) <= 4 {
		// The append path asks for a few hashes at a time: one prepared
		// lookup each beats parsing an IN list.
		s, err := t.stmt(qAuditHash)
		if err != nil {
			return nil, err
		}
		out := make([][]byte, len(ids))
		for i, id := range ids {
			if err := s.QueryRow(id).Scan(&out[i]); err != nil {
				return nil, one(err, "audit tree hash")
			}
		}
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := t.tx.Query(`SELECT id, hash FROM audit_hashes WHERE id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byID := make(map[int64][]byte, len(ids))
	for rows.Next() {
		var id int64
		var h []byte
		if err := rows.Scan(&id, &h); err != nil {
			return nil, err
		}
		byID[id] = h
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := byID[id]
		if !ok {
			return nil, notFound("audit tree hash")
		}
		out[i] = h
	}
	return out, nil
}

// AuditHashCount returns the number of stored tree hashes.
func (t *Tx) AuditHashCount() (int64, error) {
	var n int64
	err := t.tx.QueryRow(`SELECT count(*) FROM audit_hashes`).Scan(&n)
	return n, err
}

// ScanAuditHashes calls fn for every stored hash in id order.
func (t *Tx) ScanAuditHashes(fn func(id int64, hash []byte) error) error {
	rows, err := t.tx.Query(`SELECT id, hash FROM audit_hashes ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var h []byte
		if err := rows.Scan(&id, &h); err != nil {
			return err
		}
		if err := fn(id, h); err != nil {
			return err
		}
	}
	return rows.Err()
}

func scanAudit(s scanner) (AuditRow, error) {
	var r AuditRow
	err := s.Scan(&r.Index, &r.Time, &r.ActorID, &r.PatientID, &r.Action, &r.Record)
	return r, err
}

const auditCols = `idx, time, actor_id, patient_id, action, record`

// ScanAudit calls fn for every event in index order.
func (t *Tx) ScanAudit(fn func(AuditRow) error) error {
	return t.eachAudit(fn, `SELECT `+auditCols+` FROM audit_events ORDER BY idx`)
}

// ScanAuditFrom calls fn for every event from index from on, in order.
func (t *Tx) ScanAuditFrom(from int64, fn func(AuditRow) error) error {
	return t.eachAudit(fn, `SELECT `+auditCols+` FROM audit_events WHERE idx >= ? ORDER BY idx`, from)
}

// eachAudit runs q and calls fn for each event row, without holding them
// all in memory.
func (t *Tx) eachAudit(fn func(AuditRow) error, q string, args ...any) error {
	rows, err := t.tx.Query(q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AuditEvent returns one event.
func (t *Tx) AuditEvent(idx int64) (AuditRow, error) {
	r, err := scanAudit(t.tx.QueryRow(`SELECT `+auditCols+` FROM audit_events WHERE idx = ?`, idx))
	return r, one(err, "audit event")
}

// AuditQuery selects events; empty fields match all. Times are unix ms,
// Until exclusive; 0 means open.
type AuditQuery struct {
	PatientID, ActorID string
	ActionPrefix       string // "alert." selects the alerts
	Since, Until       int64
	Limit              int
	BeforeIndex        int64 // page backwards from here; 0 = newest
}

// SearchAudit returns matching events, newest first.
func (t *Tx) SearchAudit(q AuditQuery) ([]AuditRow, error) {
	var where []string
	var args []any
	if q.PatientID != "" {
		where, args = append(where, "patient_id = ?"), append(args, q.PatientID)
	}
	if q.ActorID != "" {
		where, args = append(where, "actor_id = ?"), append(args, q.ActorID)
	}
	if q.ActionPrefix != "" {
		// A range on the action index: prefix <= action < prefix+U+10FFFF.
		where, args = append(where, "action >= ? AND action < ?"), append(args, q.ActionPrefix, q.ActionPrefix+"\U0010FFFF")
	}
	if q.Since != 0 {
		where, args = append(where, "time >= ?"), append(args, q.Since)
	}
	if q.Until != 0 {
		where, args = append(where, "time < ?"), append(args, q.Until)
	}
	if q.BeforeIndex != 0 {
		where, args = append(where, "idx < ?"), append(args, q.BeforeIndex)
	}
	sqlq := `SELECT ` + auditCols + ` FROM audit_events`
	if len(where) > 0 {
		sqlq += ` WHERE ` + strings.Join(where, " AND ")
	}
	sqlq += ` ORDER BY idx DESC LIMIT ?`
	args = append(args, q.Limit)
	return queryAll(t, scanAudit, sqlq, args...)
}

// InsertCheckpoint keeps a signed checkpoint; a second one of the same size
// is ignored (the tree at a size is fixed).
func (t *Tx) InsertCheckpoint(size int64, note []byte, at int64) error {
	return t.exec(`INSERT OR IGNORE INTO audit_checkpoints (size, note, created_at) VALUES (?,?,?)`, size, note, at)
}

// CheckpointRow is a stored checkpoint.
type CheckpointRow struct {
	Size      int64
	Note      []byte
	CreatedAt int64
}

// Checkpoints returns every checkpoint, smallest first.
func (t *Tx) Checkpoints() ([]CheckpointRow, error) {
	return queryAll(t, func(s scanner) (CheckpointRow, error) {
		var c CheckpointRow
		err := s.Scan(&c.Size, &c.Note, &c.CreatedAt)
		return c, err
	}, `SELECT size, note, created_at FROM audit_checkpoints ORDER BY size`)
}

// LatestCheckpoint returns the largest checkpoint. ENOTFOUND if none.
func (t *Tx) LatestCheckpoint() (CheckpointRow, error) {
	var c CheckpointRow
	err := t.tx.QueryRow(`SELECT size, note, created_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1`).Scan(&c.Size, &c.Note, &c.CreatedAt)
	return c, one(err, "checkpoint")
}

// WitnessRow is a configured witness.
type WitnessRow struct {
	Name, URL, VKey string
	AddedAt         int64
	MAC             []byte // authenticates name, URL and key (nil on rows from before it existed)
}

// InsertWitness adds a witness. ECONFLICT if the name is taken.
func (t *Tx) InsertWitness(w WitnessRow) error {
	return t.exec(`INSERT INTO audit_witnesses (name, url, vkey, added_at, mac) VALUES (?,?,?,?,?)`, w.Name, w.URL, w.VKey, w.AddedAt, w.MAC)
}

// Witnesses returns the configured witnesses.
func (t *Tx) Witnesses() ([]WitnessRow, error) {
	return queryAll(t, func(s scanner) (WitnessRow, error) {
		var w WitnessRow
		err := s.Scan(&w.Name, &w.URL, &w.VKey, &w.AddedAt, &w.MAC)
		return w, err
	}, `SELECT name, url, vkey, added_at, mac FROM audit_witnesses ORDER BY name`)
}

// SetWitnessMAC stores the MAC of a witness row.
func (t *Tx) SetWitnessMAC(name string, mac []byte) error {
	return t.execOne("witness", `UPDATE audit_witnesses SET mac = ? WHERE name = ?`, mac, name)
}

// CosignatureRow is a witness's cosignature of a checkpoint.
type CosignatureRow struct {
	Size       int64
	Witness    string
	Signature  []byte // the note signature line(s)
	ReceivedAt int64
}

// InsertCosignature keeps a cosignature.
func (t *Tx) InsertCosignature(c CosignatureRow) error {
	return t.exec(`INSERT OR IGNORE INTO audit_cosignatures (size, witness, signature, received_at) VALUES (?,?,?,?)`, c.Size, c.Witness, c.Signature, c.ReceivedAt)
}

// Cosignatures returns every cosignature, by size then witness.
func (t *Tx) Cosignatures() ([]CosignatureRow, error) {
	return queryAll(t, func(s scanner) (CosignatureRow, error) {
		var c CosignatureRow
		err := s.Scan(&c.Size, &c.Witness, &c.Signature, &c.ReceivedAt)
		return c, err
	}, `SELECT size, witness, signature, received_at FROM audit_cosignatures ORDER BY size, witness`)
}

// LatestCosigned returns the largest size a witness has cosigned, 0 if none.
func (t *Tx) LatestCosigned(witness string) (int64, error) {
	var n sql.NullInt64
	err := t.tx.QueryRow(`SELECT max(size) FROM audit_cosignatures WHERE witness = ?`, witness).Scan(&n)
	return n.Int64, err
}

// InsertAlert records an alert raised by the log.
func (t *Tx) InsertAlert(at int64, kind, detail string) error {
	return t.exec(`INSERT INTO audit_alerts (time, kind, detail) VALUES (?,?,?)`, at, kind, detail)
}

// AlertRow is a stored alert.
type AlertRow struct {
	Time         int64
	Kind, Detail string
}

// Alerts returns every alert, oldest first.
func (t *Tx) Alerts() ([]AlertRow, error) {
	return queryAll(t, func(s scanner) (AlertRow, error) {
		var a AlertRow
		err := s.Scan(&a.Time, &a.Kind, &a.Detail)
		return a, err
	}, `SELECT time, kind, detail FROM audit_alerts ORDER BY id`)
}

// SetMaxPages caps the database size in pages (PRAGMA max_page_count): a
// real "disk full" for tests of what happens when the log cannot grow. 0
// restores the default.
func (db *DB) SetMaxPages(n int64) error {
	if n == 0 {
		n = 4294967294
	}
	_, err := db.w.Exec(`PRAGMA max_page_count = ` + itoa(n))
	return err
}

// PageCount returns the database's current size in pages.
func (db *DB) PageCount() (int64, error) {
	var n int64
	err := db.w.QueryRow(`PRAGMA page_count`).Scan(&n)
	return n, err
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// AuditHead returns the stored last-signed head. ENOTFOUND if none.
func (t *Tx) AuditHead() (size int64, root, mac []byte, err error) {
	err = t.tx.QueryRow(`SELECT size, root, mac FROM audit_head WHERE id = 1`).Scan(&size, &root, &mac)
	return size, root, mac, one(err, "audit head")
}

// PutAuditHead stores the last-signed head.
func (t *Tx) PutAuditHead(size int64, root, mac []byte) error {
	return t.exec(`INSERT INTO audit_head (id, size, root, mac) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET size = excluded.size, root = excluded.root, mac = excluded.mac`, size, root, mac)
}

// AuditSince calls fn for each event at or after since (ms) whose action
// is one of actions, oldest first: the tripwires' start-up replay.
func (t *Tx) AuditSince(since int64, actions []string, fn func(AuditRow) error) error {
	q := `SELECT ` + auditCols + ` FROM audit_events WHERE time >= ? AND action IN (?` + strings.Repeat(",?", len(actions)-1) + `) ORDER BY idx`
	args := []any{since}
	for _, a := range actions {
		args = append(args, a)
	}
	return t.eachAudit(fn, q, args...)
}
