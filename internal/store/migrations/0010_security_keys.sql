-- WebAuthn security keys and passkeys, a second factor beside TOTP. The
-- credential (public key, sign counter, flags) is sealed under a KEK-derived
-- key bound to the user and the credential id, so a database writer can
-- neither read which keys a person holds nor plant one of their own.
CREATE TABLE security_keys (
	id         BLOB NOT NULL PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id),
	sealed     BLOB NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX security_keys_user ON security_keys (user_id);
