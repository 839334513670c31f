-- A key pair born from a password someone else chose (user add, a reset)
-- is replaced at the user's first sign-in to the web app.
ALTER TABLE users ADD COLUMN must_change INTEGER NOT NULL DEFAULT 1;
