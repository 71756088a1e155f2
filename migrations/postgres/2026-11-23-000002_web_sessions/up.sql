-- Browser sessions of the web pages. The cookie carries a random secret; only its SHA-256 is stored, like API
-- tokens. Each session has its own CSRF token, echoed in every form and in the X-CSRF-Token header of scripts.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    csrf_token TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_agent ON web_sessions (agent_id);
