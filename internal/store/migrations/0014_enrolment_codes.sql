-- One-time enrolment codes: the second half of an admin-created account's
-- first sign-in (and of a second-factor reset). Kept only as a MAC under a
-- KEK-derived key bound to the user and the issue time; one outstanding
-- code per user (a new one replaces it).
CREATE TABLE enrolment_codes (
	user_id   TEXT PRIMARY KEY REFERENCES users (id),
	code_mac  BLOB NOT NULL,
	issued_at INTEGER NOT NULL,
	used_at   INTEGER
) STRICT;
