-- Second factors of staff sign-in. The TOTP secret is sealed under a
-- KEK-derived key; recovery codes are kept only as MACs.
CREATE TABLE user_mfa (
	user_id     TEXT PRIMARY KEY REFERENCES users (id),
	totp_sealed BLOB NOT NULL,
	last_step   INTEGER NOT NULL DEFAULT 0,
	enrolled_at INTEGER NOT NULL
) STRICT;

CREATE TABLE recovery_codes (
	user_id  TEXT NOT NULL REFERENCES users (id),
	code_mac BLOB NOT NULL,
	used_at  INTEGER,
	PRIMARY KEY (user_id, code_mac)
) STRICT;
