-- +goose Up
CREATE TABLE oauth_clients (
    id               TEXT PRIMARY KEY,
    secret_hash      BYTEA NOT NULL,
    name             TEXT NOT NULL DEFAULT '',
    public           BIGINT NOT NULL DEFAULT 0,
    redirect_uris    TEXT NOT NULL DEFAULT '[]',
    grants           TEXT NOT NULL DEFAULT '[]',
    scopes           TEXT NOT NULL DEFAULT '[]',
    audiences        TEXT NOT NULL DEFAULT '[]',
    roles            TEXT NOT NULL DEFAULT '[]',
    tenant           TEXT NOT NULL DEFAULT '',
    disabled         BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE TABLE oauth_signing_keys (
    id          TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    public_key  BYTEA NOT NULL,
    sealed_key  BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE oauth_signing_keys;
DROP TABLE oauth_clients;
