-- auth: verification tokens are stored as their sha-256 (hex), like refresh tokens, so a leaked
-- auth.email_verifications table holds no usable token: only the email carries the token itself.
-- rows written before this migration held the token in plain text: hash them in place, so the links
-- already emailed keep working (the service hashes the token a user presents and compares hashes).
update auth.email_verifications set token = encode(sha256(convert_to(token, 'UTF8')), 'hex');
alter table auth.email_verifications rename column token to token_hash;
