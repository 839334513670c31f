-- An admin cannot grant a record (they hold no key). Their care-team page
-- files a request that a clinician who holds the record fulfils.
CREATE TABLE careteam_requests (
	id           TEXT PRIMARY KEY,
	patient_id   TEXT NOT NULL REFERENCES patients (id),
	clinician_id TEXT NOT NULL REFERENCES users (id),
	requested_by TEXT NOT NULL REFERENCES users (id),
	created_at   INTEGER NOT NULL,
	closed_at    INTEGER,
	closed_by    TEXT,
	outcome      TEXT CHECK (outcome IN ('granted', 'declined'))
) STRICT;
CREATE INDEX careteam_requests_open ON careteam_requests (patient_id) WHERE closed_at IS NULL;
