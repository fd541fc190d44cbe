-- API keys. A key reads itsm_<id>_<secret>; only a BLAKE2b hash of the
-- secret is stored. A revoked or expired key stays listed.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    secret_hash  TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_created ON api_keys (created_at, id);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- Failed logins and key exchanges per e-mail address, client address or
-- key, counted in fixed windows that start with the first failure.
CREATE TABLE auth_failures (
    subject      TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL
);

-- Who changed what. details is a JSON object without secrets.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT,
    action      TEXT NOT NULL,
    target_type TEXT,
    target_id   TEXT,
    client_ip   TEXT,
    request_id  TEXT,
    outcome     TEXT NOT NULL,
    details     TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_target ON audit_log (target_id, id);
