ALTER TABLE prompts RENAME COLUMN timer_id TO delivery_id;

DROP INDEX sends_status;
CREATE INDEX messages_status ON sends (status, channel);
DROP INDEX sends_target;
CREATE INDEX messages_target ON sends (target, created_at);
DROP INDEX sends_pending;
CREATE INDEX messages_pending ON sends (next_attempt_at) WHERE status = 'pending';
ALTER TABLE sends RENAME TO messages;

DROP INDEX timers_dead;
CREATE INDEX deliveries_dead ON timers (updated_at) WHERE status = 'dead';
DROP INDEX timers_pending;
CREATE INDEX deliveries_pending ON timers (next_attempt_at, purpose) WHERE status = 'pending';
ALTER TABLE timers RENAME COLUMN fired_at TO delivered_at;
ALTER TABLE timers RENAME TO deliveries;
