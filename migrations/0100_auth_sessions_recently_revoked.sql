-- the revocation set of auth.local_token_validation is reloaded every few seconds with
-- "sessions revoked within the last access-token lifetime": a partial index keeps that a short
-- range scan over revoked sessions only, whatever the size of auth.sessions.
create index if not exists sessions_recently_revoked on auth.sessions (revoked_at) where revoked_at is not null;
