-- Tenants deleted after a grace period: from deletion_requested_at their
-- credentials are refused, at delete_after the scheduler purges their data.
-- API keys get a name (what they are for); existing keys are named `key-`
-- and the end of their id (as SQLite's migration 13 does).

ALTER TABLE tenants ADD COLUMN deletion_requested_at bigint;
ALTER TABLE tenants ADD COLUMN delete_after bigint;
CREATE INDEX tenants_delete_after ON tenants (delete_after) WHERE delete_after IS NOT NULL;

ALTER TABLE api_keys ADD COLUMN name text NOT NULL DEFAULT '';
UPDATE api_keys SET name = 'key-' || right(replace(id, '-', ''), 8);
