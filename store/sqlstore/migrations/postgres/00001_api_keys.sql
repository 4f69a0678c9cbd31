-- +goose Up
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    hash         BYTEA NOT NULL,
    hint         TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    owner        TEXT NOT NULL DEFAULT '',
    tenant       TEXT NOT NULL DEFAULT '',
    roles        TEXT NOT NULL DEFAULT '[]',
    scopes       TEXT NOT NULL DEFAULT '[]',
    attrs        TEXT NOT NULL DEFAULT '{}',
    rate_limits  TEXT NOT NULL DEFAULT '{}',
    status       TEXT NOT NULL CHECK (status IN ('active', 'rotated', 'revoked')),
    rotated_to   TEXT NOT NULL DEFAULT '',
    grace_until  BIGINT NOT NULL DEFAULT 0,
    expires_at   BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL DEFAULT 0,
    revoked_at   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_owner ON api_keys (owner);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

-- +goose Down
DROP TABLE api_keys;
