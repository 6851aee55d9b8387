-- auth: when the verification email was accepted by the provider (null = not yet).
-- set in the same transaction that records the message as processed, so "delivered" is one query:
-- select count(*) filter (where sent_at is not null), count(*) from auth.email_verifications.
alter table auth.email_verifications add column sent_at timestamptz;
