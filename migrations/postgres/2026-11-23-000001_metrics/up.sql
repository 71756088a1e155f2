-- Promise-keeping metrics (DESIGN.md section 10), kept as per-day rollups written in the same transaction as
-- the ledger events they summarise, so a 90-day report reads a few thousand rows instead of millions of events.

-- Who answers for the promise's current due time: the owner, frozen once the due time has passed so that a
-- hand-over after due does not move a miss to the new owner.
ALTER TABLE promises ADD COLUMN accountable_agent_id TEXT NOT NULL DEFAULT '';
-- The customer's team when the promise was made; metrics group by it even if the customer later moves.
ALTER TABLE promises ADD COLUMN team_id TEXT;
-- Set when the agent moved the due time after it had passed: whatever happens next is already late, measured
-- from this instant (DESIGN.md section 5).
ALTER TABLE promises ADD COLUMN late_since BIGINT;

UPDATE promises SET accountable_agent_id = owner_agent_id;
UPDATE promises SET team_id = (SELECT customers.team_id FROM customers WHERE customers.id = promises.customer_id);

-- One row per (customer-local due date, team, accountable agent, kind). `day` and `week` are days since
-- 1970-01-01 of the customer's calendar date (week = its Monday). Team '' means no team.
CREATE TABLE metric_days (
    day INTEGER NOT NULL,
    week INTEGER NOT NULL,
    team_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    pending BIGINT NOT NULL DEFAULT 0,
    missed_open BIGINT NOT NULL DEFAULT 0,
    kept_on_time BIGINT NOT NULL DEFAULT 0,
    kept_late BIGINT NOT NULL DEFAULT 0,
    broken BIGINT NOT NULL DEFAULT 0,
    cancelled BIGINT NOT NULL DEFAULT 0,
    renegotiated_by_customer BIGINT NOT NULL DEFAULT 0,
    renegotiated_by_agent BIGINT NOT NULL DEFAULT 0,
    handovers BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, team_id, agent_id, kind)
);

-- How late each late keep was, in whole minutes, counted per minute value so percentiles stay exact.
CREATE TABLE metric_lateness (
    day INTEGER NOT NULL,
    week INTEGER NOT NULL,
    team_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    minutes BIGINT NOT NULL,
    count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, team_id, agent_id, kind, minutes)
);

-- Outbound contacts per (customer-local date, team, the customer's owner): how many, and how many the owner made.
CREATE TABLE metric_contacts (
    day INTEGER NOT NULL,
    week INTEGER NOT NULL,
    team_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    outbound BIGINT NOT NULL DEFAULT 0,
    by_owner BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, team_id, agent_id)
);

-- Prometheus counts dead deliveries on every scrape.
CREATE INDEX deliveries_dead ON deliveries (updated_at) WHERE status = 'dead';

-- Continuity is judged against the customer's owner and team at the time of the contact, on the customer's
-- calendar date; they are kept with the interaction so later changes to the customer do not rewrite history.
ALTER TABLE interactions ADD COLUMN owner_agent_id TEXT;
ALTER TABLE interactions ADD COLUMN team_id TEXT;
ALTER TABLE interactions ADD COLUMN local_date TEXT;
CREATE INDEX messages_status ON messages (status, channel);
