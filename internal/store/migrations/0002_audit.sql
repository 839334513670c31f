-- The audit log: an append-only sequence of events that are the leaves of an
-- RFC 6962 Merkle tree (golang.org/x/mod/sumdb/tlog). record holds the exact
-- bytes that were hashed; the other columns repeat a few of its fields in
-- clear for searching (verify checks that they agree). Personal data inside
-- a record (a client address, a search term) is sealed before hashing.

CREATE TABLE audit_events (
	idx        INTEGER PRIMARY KEY CHECK (idx >= 0),
	time       INTEGER NOT NULL,
	actor_id   TEXT NOT NULL,
	patient_id TEXT NOT NULL,
	action     TEXT NOT NULL,
	record     BLOB NOT NULL
) STRICT;
CREATE INDEX audit_patient ON audit_events (patient_id, idx) WHERE patient_id != '';
CREATE INDEX audit_actor ON audit_events (actor_id, idx);
CREATE INDEX audit_time ON audit_events (time);

-- tlog stored hashes: id is tlog.StoredHashIndex(level, n).
CREATE TABLE audit_hashes (
	id   INTEGER PRIMARY KEY,
	hash BLOB NOT NULL
) STRICT;

-- Signed checkpoints (C2SP tlog-checkpoint notes), every one kept.
CREATE TABLE audit_checkpoints (
	size       INTEGER PRIMARY KEY,
	note       BLOB NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

-- Witnesses the clinic configured, and the cosignatures they returned.
CREATE TABLE audit_witnesses (
	name       TEXT PRIMARY KEY,
	url        TEXT NOT NULL,
	vkey       TEXT NOT NULL,
	added_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_cosignatures (
	size        INTEGER NOT NULL,
	witness     TEXT NOT NULL,
	signature   BLOB NOT NULL,
	received_at INTEGER NOT NULL,
	PRIMARY KEY (size, witness)
) STRICT;

-- Alerts raised by the log itself (a witness refused a checkpoint).
CREATE TABLE audit_alerts (
	id      INTEGER PRIMARY KEY,
	time    INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	detail  TEXT NOT NULL
) STRICT;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_hashes_no_update BEFORE UPDATE ON audit_hashes
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_hashes_no_delete BEFORE DELETE ON audit_hashes
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- The last checkpoint the server signed (size and root) with a MAC under a
-- KEK-derived key: before signing again, the server checks that the tree on
-- disk still extends it, so someone who rewrites the log on disk cannot get
-- the rewrite signed.
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	size INTEGER NOT NULL,
	root BLOB NOT NULL,
	mac  BLOB NOT NULL
) STRICT;
