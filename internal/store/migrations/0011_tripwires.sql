-- Exfiltration tripwires. A frozen account's sessions and tokens stop
-- working until an admin unfreezes it; the freeze and its alert are in the
-- audit log, this column only makes it hold across restarts. The action
-- index serves the admin page's list of alerts.
ALTER TABLE users ADD COLUMN frozen_at INTEGER;
CREATE INDEX audit_events_action ON audit_events (action, idx);
