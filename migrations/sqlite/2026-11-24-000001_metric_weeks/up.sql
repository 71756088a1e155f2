-- Weekly rollups beside the daily ones, written in the same transaction. A 90-day report reads whole weeks from
-- here and only the days at either end from the daily tables: about a fifth of the rows. Rows are keyed by the
-- Monday of the customer-local due date (days since 1970-01-01), and hold exactly the sums of that week's days.
CREATE TABLE metric_weeks (
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
    PRIMARY KEY (week, team_id, agent_id, kind)
) WITHOUT ROWID;

CREATE TABLE metric_lateness_weeks (
    week INTEGER NOT NULL,
    team_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    minutes BIGINT NOT NULL,
    count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (week, team_id, agent_id, kind, minutes)
) WITHOUT ROWID;

CREATE TABLE metric_contacts_weeks (
    week INTEGER NOT NULL,
    team_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    outbound BIGINT NOT NULL DEFAULT 0,
    by_owner BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (week, team_id, agent_id)
) WITHOUT ROWID;

INSERT INTO metric_weeks (week, team_id, agent_id, kind, pending, missed_open, kept_on_time, kept_late, broken,
                          cancelled, renegotiated_by_customer, renegotiated_by_agent, handovers)
SELECT week, team_id, agent_id, kind, SUM(pending), SUM(missed_open), SUM(kept_on_time), SUM(kept_late), SUM(broken),
       SUM(cancelled), SUM(renegotiated_by_customer), SUM(renegotiated_by_agent), SUM(handovers)
FROM metric_days GROUP BY week, team_id, agent_id, kind;

INSERT INTO metric_lateness_weeks (week, team_id, agent_id, kind, minutes, count)
SELECT week, team_id, agent_id, kind, minutes, SUM(count) FROM metric_lateness
GROUP BY week, team_id, agent_id, kind, minutes;

INSERT INTO metric_contacts_weeks (week, team_id, agent_id, outbound, by_owner)
SELECT week, team_id, agent_id, SUM(outbound), SUM(by_owner) FROM metric_contacts GROUP BY week, team_id, agent_id;
