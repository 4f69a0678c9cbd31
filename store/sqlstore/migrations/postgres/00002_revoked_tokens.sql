-- +goose Up
CREATE TABLE revoked_tokens (
    seq        BIGSERIAL PRIMARY KEY,
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL DEFAULT '',
    subject    TEXT NOT NULL DEFAULT '',
    until_at   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    actor      TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    CHECK ((jti = '') <> (subject = ''))
);
CREATE INDEX revoked_tokens_until ON revoked_tokens (until_at);

-- +goose Down
DROP TABLE revoked_tokens;
