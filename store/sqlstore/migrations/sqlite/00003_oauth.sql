-- +goose Up
CREATE TABLE oauth_clients (
    id               TEXT PRIMARY KEY,
    secret_hash      BLOB NOT NULL,
    name             TEXT NOT NULL DEFAULT '',
    public           INTEGER NOT NULL DEFAULT 0,
    redirect_uris    TEXT NOT NULL DEFAULT '[]',
    grants           TEXT NOT NULL DEFAULT '[]',
    scopes           TEXT NOT NULL DEFAULT '[]',
    audiences        TEXT NOT NULL DEFAULT '[]',
    roles            TEXT NOT NULL DEFAULT '[]',
    tenant           TEXT NOT NULL DEFAULT '',
    disabled         INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE TABLE oauth_signing_keys (
    id          TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    public_key  BLOB NOT NULL,
    sealed_key  BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE oauth_signing_keys;
DROP TABLE oauth_clients;
