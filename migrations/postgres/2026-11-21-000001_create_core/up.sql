-- Core tables of the promise ledger. Instants are UTC milliseconds since the Unix epoch (BIGINT) so that both
-- backends compare and index them identically; wall-clock times are kept as text beside their IANA zone.

CREATE TABLE teams (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE agents (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('agent', 'manager', 'admin')),
    team_id TEXT REFERENCES teams(id),
    time_zone TEXT NOT NULL,
    shift TEXT NOT NULL,
    locale TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    password_hash TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX agents_team ON agents (team_id);

CREATE TABLE absences (
    id TEXT PRIMARY KEY NOT NULL,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    stand_in_agent_id TEXT REFERENCES agents(id),
    note TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX absences_agent ON absences (agent_id, ends_at);

CREATE TABLE customers (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    phone TEXT,
    email TEXT,
    time_zone TEXT NOT NULL,
    locale TEXT NOT NULL,
    contact_window TEXT NOT NULL,
    preferred_channel TEXT,
    owner_agent_id TEXT REFERENCES agents(id),
    team_id TEXT REFERENCES teams(id),
    notes TEXT NOT NULL DEFAULT '',
    facts TEXT NOT NULL DEFAULT '[]',
    external_ref TEXT,
    do_not_call BOOLEAN NOT NULL DEFAULT FALSE,
    region TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX customers_team ON customers (team_id, name);
CREATE INDEX customers_owner ON customers (owner_agent_id);

CREATE TABLE interactions (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    agent_id TEXT REFERENCES agents(id),
    channel TEXT NOT NULL,
    direction TEXT NOT NULL,
    outcome TEXT NOT NULL,
    summary TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    promise_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX interactions_customer ON interactions (customer_id, occurred_at);

CREATE TABLE promises (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    owner_agent_id TEXT NOT NULL REFERENCES agents(id),
    made_by_agent_id TEXT NOT NULL REFERENCES agents(id),
    kind TEXT NOT NULL CHECK (kind IN ('callback', 'deadline', 'update')),
    title TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '',
    due_local TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    disambiguation TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    due_offset_seconds INTEGER NOT NULL,
    window_end_at BIGINT,
    grace_seconds BIGINT NOT NULL,
    lead_seconds TEXT NOT NULL DEFAULT '[]',
    recurrence_cron TEXT,
    recurrence_until BIGINT,
    status TEXT NOT NULL CHECK (status IN ('open', 'missed', 'kept', 'broken', 'cancelled')),
    kept_at BIGINT,
    kept_on_time BOOLEAN,
    resolution_interaction_id TEXT REFERENCES interactions(id),
    resolution_note TEXT,
    made_in_interaction_id TEXT REFERENCES interactions(id),
    customer_requested BOOLEAN NOT NULL DEFAULT FALSE,
    reschedule_count INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX promises_owner_due ON promises (owner_agent_id, due_at);
-- The agenda asks for an owner's open and missed promises; statuses first keeps kept history out of its scan.
CREATE INDEX promises_owner_status_due ON promises (owner_agent_id, status, due_at);
CREATE INDEX promises_customer ON promises (customer_id, due_at);
CREATE INDEX promises_status_due ON promises (status, due_at);

-- Append-only: rows are inserted, never updated or deleted.
CREATE TABLE promise_events (
    id BIGSERIAL PRIMARY KEY,
    promise_id TEXT NOT NULL REFERENCES promises(id),
    customer_id TEXT NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL,
    actor_agent_id TEXT REFERENCES agents(id),
    occurred_at BIGINT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX promise_events_promise ON promise_events (promise_id, id);
CREATE INDEX promise_events_customer ON promise_events (customer_id, occurred_at);

-- Outbox of prompts and notifications; the scheduler reads only this table. `recipient` is an agent id for the
-- inbox and email, a subscription id for webhooks.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    promise_id TEXT NOT NULL REFERENCES promises(id),
    occurrence_at BIGINT NOT NULL,
    purpose TEXT NOT NULL,
    recipient TEXT NOT NULL,
    channel TEXT NOT NULL,
    payload TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until BIGINT,
    delivered_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- The fire time is part of the key because one occurrence can have several lead reminders.
    UNIQUE (promise_id, occurrence_at, purpose, channel, recipient, next_attempt_at)
);
CREATE INDEX deliveries_pending ON deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    last_used_at BIGINT,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX api_tokens_agent ON api_tokens (agent_id);

CREATE TABLE idempotency_keys (
    agent_id TEXT NOT NULL REFERENCES agents(id),
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (agent_id, idempotency_key)
);

-- Small facts about the service itself, e.g. the IANA tzdata version the stored instants were derived with.
CREATE TABLE service_state (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
