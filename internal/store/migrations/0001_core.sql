-- Hush core schema. Everything personal is sealed before it reaches these
-- tables: blobs named *_sealed, profile, directory and body are ciphertexts.
-- Clear columns hold only random ids, timestamps (unix milliseconds),
-- status flags and counts.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
) STRICT;

CREATE TABLE users (
	id             TEXT PRIMARY KEY,
	role           TEXT NOT NULL CHECK (role IN ('clinician', 'reception', 'admin', 'auditor', 'patient')),
	patient_id     TEXT,
	active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
	email_index    BLOB NOT NULL UNIQUE,
	profile        BLOB NOT NULL,
	public_key     BLOB,
	public_key_mac BLOB,
	pw_salt        BLOB,
	pw_verifier    BLOB,
	pw_key         BLOB,
	created_at     INTEGER NOT NULL,
	deactivated_at INTEGER
) STRICT;

CREATE TABLE tokens (
	id         TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id),
	verifier   BLOB NOT NULL,
	sealed_key BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER,
	revoked_at INTEGER
) STRICT;
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE patients (
	id         TEXT PRIMARY KEY,
	hetu_index BLOB UNIQUE,
	directory  BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	created_by TEXT NOT NULL REFERENCES users (id)
) STRICT;

CREATE TABLE record_epochs (
	patient_id TEXT NOT NULL REFERENCES patients (id),
	epoch      INTEGER NOT NULL CHECK (epoch >= 1),
	public_key BLOB NOT NULL,
	public_key_mac BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (patient_id, epoch)
) STRICT;

CREATE TABLE grants (
	patient_id TEXT NOT NULL,
	epoch      INTEGER NOT NULL,
	principal  TEXT NOT NULL,
	sealed     BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (patient_id, epoch, principal),
	FOREIGN KEY (patient_id, epoch) REFERENCES record_epochs (patient_id, epoch)
) STRICT;
CREATE INDEX grants_principal ON grants (principal);

CREATE TABLE care_team (
	patient_id TEXT NOT NULL REFERENCES patients (id),
	user_id    TEXT NOT NULL REFERENCES users (id),
	added_at   INTEGER NOT NULL,
	added_by   TEXT NOT NULL,
	removed_at INTEGER,
	removed_by TEXT
) STRICT;
CREATE UNIQUE INDEX care_team_active ON care_team (patient_id, user_id) WHERE removed_at IS NULL;
CREATE INDEX care_team_user ON care_team (user_id) WHERE removed_at IS NULL;

CREATE TABLE notes (
	id         TEXT NOT NULL,
	version    INTEGER NOT NULL CHECK (version >= 1),
	patient_id TEXT NOT NULL REFERENCES patients (id),
	epoch      INTEGER NOT NULL,
	author_id  TEXT NOT NULL REFERENCES users (id),
	kind       TEXT NOT NULL CHECK (kind IN ('SOAP', 'DAP', 'BIRP', 'free')),
	status     TEXT NOT NULL CHECK (status IN ('preliminary', 'final', 'amended')),
	created_at INTEGER NOT NULL,
	body       BLOB NOT NULL,
	PRIMARY KEY (id, version),
	FOREIGN KEY (patient_id, epoch) REFERENCES record_epochs (patient_id, epoch)
) STRICT;
CREATE INDEX notes_patient ON notes (patient_id, created_at);

-- Note versions are history: never changed, never removed.
CREATE TRIGGER notes_no_update BEFORE UPDATE ON notes
BEGIN SELECT RAISE(ABORT, 'note versions are append-only'); END;
CREATE TRIGGER notes_no_delete BEFORE DELETE ON notes
BEGIN SELECT RAISE(ABORT, 'note versions are append-only'); END;
