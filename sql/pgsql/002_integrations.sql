-- The integration registry. credentials holds the vault's ciphertext of
-- the credentials object (never plaintext); options and endpoints hold
-- JSON text. name_key is the lower-case name, unique. next_check_at is
-- when the background runner probes the integration next; a claimed
-- integration has it moved past the probe's timeout.
CREATE TABLE integrations (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    name_key             TEXT NOT NULL UNIQUE,
    description          TEXT NOT NULL DEFAULT '',
    type                 TEXT NOT NULL,
    base_url             TEXT NOT NULL,
    auth_type            TEXT NOT NULL,
    credentials          TEXT,
    options              TEXT,
    ca_certificate       TEXT,
    endpoints            TEXT NOT NULL DEFAULT '[]',
    is_active            INTEGER NOT NULL DEFAULT 1,
    health_status        TEXT NOT NULL DEFAULT 'unknown',
    health_message       TEXT NOT NULL DEFAULT '',
    health_checked_at    BIGINT NOT NULL,
    health_latency_ms    INTEGER,
    health_http_status   INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    consecutive_successes INTEGER NOT NULL DEFAULT 0,
    auth_failures        INTEGER NOT NULL DEFAULT 0,
    next_check_at        BIGINT NOT NULL DEFAULT 0,
    created_by           TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX integrations_type ON integrations (type, created_at, id);
CREATE INDEX integrations_created ON integrations (created_at, id);
CREATE INDEX integrations_due ON integrations (is_active, next_check_at);

-- Managers of an integration, in the order the client gave them.
CREATE TABLE integration_managers (
    integration_id TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    position       INTEGER NOT NULL,
    PRIMARY KEY (integration_id, user_id)
);
CREATE INDEX integration_managers_user ON integration_managers (user_id);

-- One row per health check, newest last.
CREATE TABLE health_checks (
    id             BIGSERIAL PRIMARY KEY,
    integration_id TEXT NOT NULL,
    checked_at     BIGINT NOT NULL,
    status         TEXT NOT NULL,
    latency_ms     INTEGER,
    http_status    INTEGER,
    message        TEXT NOT NULL
);
CREATE INDEX health_checks_integration ON health_checks (integration_id, checked_at);
