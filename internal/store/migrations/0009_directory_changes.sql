-- Directory entries can be corrected (a new phone number). The previous
-- sealed entry is kept; every insert and change is numbered so that the
-- in-memory directory of each running process reloads exactly what changed.
CREATE TABLE directory_changes (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	patient_id TEXT NOT NULL REFERENCES patients (id)
) STRICT;
INSERT INTO directory_changes (patient_id) SELECT id FROM patients ORDER BY rowid;

CREATE TABLE patient_directory_history (
	patient_id TEXT NOT NULL REFERENCES patients (id),
	directory  BLOB NOT NULL,
	replaced_at INTEGER NOT NULL,
	replaced_by TEXT NOT NULL
) STRICT;
