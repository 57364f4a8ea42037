-- What a token may be used for: `full` (its role's permissions), `intake`
-- (post leads only) or `metrics` (scrape only). Existing tokens keep full.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'full';
CREATE INDEX api_tokens_user ON api_tokens (user_id);
