-- One word per thing: the table the scheduler reads holds timers (a promise's lead, due, overdue, escalation and
-- expiry moments), and outbound webhook and email sends are sends; a prompt points at the timer that fired it.
-- SQLite cannot rename an index, so the partial indexes are made again under the new names.
ALTER TABLE deliveries RENAME TO timers;
ALTER TABLE timers RENAME COLUMN delivered_at TO fired_at;
DROP INDEX deliveries_pending;
CREATE INDEX timers_pending ON timers (next_attempt_at, purpose) WHERE status = 'pending';
DROP INDEX deliveries_dead;
CREATE INDEX timers_dead ON timers (updated_at) WHERE status = 'dead';

ALTER TABLE messages RENAME TO sends;
DROP INDEX messages_pending;
CREATE INDEX sends_pending ON sends (next_attempt_at) WHERE status = 'pending';
DROP INDEX messages_target;
CREATE INDEX sends_target ON sends (target, created_at);
DROP INDEX messages_status;
CREATE INDEX sends_status ON sends (status, channel);

ALTER TABLE prompts RENAME COLUMN delivery_id TO timer_id;
