-- +goose Up
-- OA-10: a redeemed code records the refresh family it started, and each
-- refresh token the access token issued with it, so that a replay revokes
-- everything the grant produced.
ALTER TABLE oauth_codes ADD COLUMN family TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_refresh_tokens ADD COLUMN access_token_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE oauth_refresh_tokens DROP COLUMN access_token_id;
ALTER TABLE oauth_codes DROP COLUMN family;
