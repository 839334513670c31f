-- API tokens: the private key sealed under a token is also wrapped under a
-- KEK-derived key, so a token and a copy of the database open nothing
-- without the KEK. key_wrapped is 0 on rows written before this migration;
-- the clinic wraps them when it next opens (they need no token secret for
-- that: the outer seal goes around the stored ciphertext).
ALTER TABLE tokens ADD COLUMN key_wrapped INTEGER NOT NULL DEFAULT 0;
