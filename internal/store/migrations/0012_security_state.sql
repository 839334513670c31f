-- Integrity of security state (docs/threat-model.md, "The database
-- writer"). What decides who may read what is authenticated under a
-- KEK-derived key, with a generation, so that a database writer without the
-- KEK can neither change it nor put back an older version unnoticed.
--
-- users: key_gen numbers the user's key pairs (bound into the public key's
-- MAC); state_gen counts changes of the row's security state; state_mac
-- authenticates role, patient, active, frozen, must_change, the second
-- factors enrolled, the key generation and the public key.
ALTER TABLE users ADD COLUMN key_gen INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN state_gen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN state_mac BLOB;
-- factors: a hash of the second factors' stored material (the sealed TOTP
-- secret and its last step, the recovery codes and whether spent, the
-- sealed security keys) when the state was last stamped, under state_mac.
ALTER TABLE users ADD COLUMN factors BLOB;

-- record_heads: each record's current key epoch and a hash of its current
-- directory entry, with a change counter and a MAC. New content is sealed
-- only under the epoch the head names; a directory entry that is not the
-- one the head names is not used. waiting marks a record registered without
-- a clinician that has had none since: only such a record takes a first
-- care team from reception (a care team emptied in the file does not).
-- team is a hash of the active care team: a membership put back or removed
-- in the file is not used. content counts the record's note versions and
-- clinical items: a version deleted in the file (an amendment undone) is
-- noticed.
CREATE TABLE record_heads (
	patient_id TEXT PRIMARY KEY REFERENCES patients (id),
	epoch      INTEGER NOT NULL CHECK (epoch >= 1),
	gen        INTEGER NOT NULL CHECK (gen >= 1),
	directory  BLOB NOT NULL,
	waiting    INTEGER NOT NULL DEFAULT 0 CHECK (waiting IN (0, 1)),
	team       BLOB NOT NULL DEFAULT x'',
	content    INTEGER NOT NULL DEFAULT 0,
	mac        BLOB NOT NULL
) STRICT;

-- audit_witnesses: a MAC over name, URL and verifier key.
ALTER TABLE audit_witnesses ADD COLUMN mac BLOB;
