-- Clinical items beside notes: questionnaire results and diagnoses. Each is
-- sealed under the record's content key (the same grants as notes); only
-- ids, the kind, the author and the time are in clear. Items are never
-- changed; a diagnosis is resolved by adding a new item.
CREATE TABLE clinical_items (
	id         TEXT PRIMARY KEY,
	patient_id TEXT NOT NULL REFERENCES patients (id),
	epoch      INTEGER NOT NULL,
	kind       TEXT NOT NULL CHECK (kind IN ('measure', 'diagnosis')),
	author_id  TEXT NOT NULL REFERENCES users (id),
	created_at INTEGER NOT NULL,
	body       BLOB NOT NULL,
	FOREIGN KEY (patient_id, epoch) REFERENCES record_epochs (patient_id, epoch)
) STRICT;
CREATE INDEX clinical_items_patient ON clinical_items (patient_id, kind, created_at);

CREATE TRIGGER clinical_items_no_update BEFORE UPDATE ON clinical_items
BEGIN SELECT RAISE(ABORT, 'clinical items are append-only'); END;
CREATE TRIGGER clinical_items_no_delete BEFORE DELETE ON clinical_items
BEGIN SELECT RAISE(ABORT, 'clinical items are append-only'); END;
