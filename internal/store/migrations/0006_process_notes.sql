-- Private process notes: a therapist's own notes about a patient, sealed to
-- the author and the recovery key only — never to the care team — and kept
-- apart from the record. One seed per (patient, author), granted twice.
CREATE TABLE private_records (
	patient_id     TEXT NOT NULL REFERENCES patients (id),
	author_id      TEXT NOT NULL REFERENCES users (id),
	public_key     BLOB NOT NULL,
	public_key_mac BLOB NOT NULL,
	author_grant   BLOB NOT NULL,
	recovery_grant BLOB NOT NULL,
	created_at     INTEGER NOT NULL,
	PRIMARY KEY (patient_id, author_id)
) STRICT;

CREATE TABLE process_notes (
	id         TEXT PRIMARY KEY,
	patient_id TEXT NOT NULL,
	author_id  TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	body       BLOB NOT NULL,
	FOREIGN KEY (patient_id, author_id) REFERENCES private_records (patient_id, author_id)
) STRICT;
CREATE INDEX process_notes_owner ON process_notes (patient_id, author_id, created_at);

CREATE TRIGGER process_notes_no_update BEFORE UPDATE ON process_notes
BEGIN SELECT RAISE(ABORT, 'process notes are append-only'); END;
CREATE TRIGGER process_notes_no_delete BEFORE DELETE ON process_notes
BEGIN SELECT RAISE(ABORT, 'process notes are append-only'); END;
