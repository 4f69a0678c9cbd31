-- +goose Up
CREATE TABLE revoked_tokens (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL DEFAULT '',
    subject    TEXT NOT NULL DEFAULT '',
    until_at   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    actor      TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    CHECK ((jti = '') <> (subject = ''))
);
CREATE INDEX revoked_tokens_until ON revoked_tokens (until_at);

-- +goose Down
DROP TABLE revoked_tokens;
