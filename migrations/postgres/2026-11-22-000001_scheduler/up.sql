-- What the scheduler produces: prompts in agents' inboxes, outbound messages (webhooks and email) with their
-- retry state, webhook subscriptions, and the secret tokens of agents' calendar feeds.

CREATE TABLE prompts (
    id TEXT PRIMARY KEY NOT NULL,
    delivery_id TEXT NOT NULL REFERENCES deliveries(id),
    promise_id TEXT NOT NULL REFERENCES promises(id),
    agent_id TEXT NOT NULL REFERENCES agents(id),
    purpose TEXT NOT NULL,
    occurrence_at BIGINT NOT NULL,
    scheduled_for BIGINT NOT NULL,
    fired_at BIGINT NOT NULL,
    late_by_ms BIGINT NOT NULL,
    handover_note TEXT,
    body TEXT NOT NULL,
    card TEXT NOT NULL,
    acknowledged_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (delivery_id, agent_id)
);
CREATE INDEX prompts_agent ON prompts (agent_id, fired_at);
CREATE INDEX prompts_promise ON prompts (promise_id, occurrence_at);

CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL DEFAULT '[]',
    secret TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Outbound messages: `target` is a subscription id (webhook) or an email address (email). The id is the
-- idempotency key receivers see (webhook-id).
CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    event_type TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    first_attempt_at BIGINT,
    next_attempt_at BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until BIGINT,
    last_status INTEGER,
    last_error TEXT,
    delivered_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX messages_pending ON messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX messages_target ON messages (target, created_at);

CREATE TABLE calendar_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    token_hash TEXT NOT NULL UNIQUE,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
