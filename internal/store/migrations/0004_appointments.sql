-- Appointments. Times are directory data: sealed under the directory key.
-- Only the ISO week (a coarse bucket for calendar queries), ids and the
-- status are in clear. A move, a cancellation or a no-show adds a version;
-- nothing is overwritten.
CREATE TABLE appointments (
	id           TEXT NOT NULL,
	version      INTEGER NOT NULL CHECK (version >= 1),
	patient_id   TEXT NOT NULL REFERENCES patients (id),
	clinician_id TEXT NOT NULL REFERENCES users (id),
	week         TEXT NOT NULL,
	status       TEXT NOT NULL CHECK (status IN ('booked', 'cancelled', 'noshow')),
	sealed       BLOB NOT NULL,
	created_at   INTEGER NOT NULL,
	created_by   TEXT NOT NULL,
	PRIMARY KEY (id, version)
) STRICT;
CREATE INDEX appointments_week ON appointments (week);

CREATE TRIGGER appointments_no_update BEFORE UPDATE ON appointments
BEGIN SELECT RAISE(ABORT, 'appointment versions are append-only'); END;
CREATE TRIGGER appointments_no_delete BEFORE DELETE ON appointments
BEGIN SELECT RAISE(ABORT, 'appointment versions are append-only'); END;
