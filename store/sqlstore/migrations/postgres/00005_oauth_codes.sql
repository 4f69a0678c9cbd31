-- +goose Up
CREATE TABLE oauth_codes (
    code_hash    BYTEA PRIMARY KEY,
    client_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scopes       TEXT NOT NULL DEFAULT '[]',
    audience     TEXT NOT NULL DEFAULT '',
    challenge    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT NOT NULL DEFAULT 0,
    token_id     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX oauth_codes_expires ON oauth_codes (expires_at);

-- +goose Down
DROP TABLE oauth_codes;
