-- The account lifecycle: sessions with rotating refresh tokens, single-use tokens sent by
-- mail, email verification and the failed-login counter. Expiry times are Unix seconds,
-- compared in SQL; times shown to users stay RFC 3339 text.
ALTER TABLE chopin_users ADD COLUMN email_verified_at TEXT;

-- One row per sign-in: the family of its refresh tokens. An access token names its
-- session, and is refused once the session is revoked.
CREATE TABLE chopin_sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT NOT NULL REFERENCES chopin_users (id) ON DELETE CASCADE,
    created_at TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX chopin_sessions_user_id ON chopin_sessions (user_id);

-- Only SHA-256 hashes are stored. A used token is kept until it expires: presenting it
-- again revokes its session.
CREATE TABLE chopin_refresh_tokens (
    hash       TEXT   PRIMARY KEY,
    session_id BIGINT NOT NULL REFERENCES chopin_sessions (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX chopin_refresh_tokens_session_id ON chopin_refresh_tokens (session_id);

-- Password reset and email verification tokens, single use, hashed.
CREATE TABLE chopin_account_tokens (
    hash       TEXT   PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES chopin_users (id) ON DELETE CASCADE,
    purpose    TEXT   NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX chopin_account_tokens_user_id ON chopin_account_tokens (user_id);

-- Failed logins per email and client address (never per account alone, so nobody can
-- lock another person out from elsewhere).
CREATE TABLE chopin_login_failures (
    email        TEXT    NOT NULL,
    client       TEXT    NOT NULL,
    failures     INTEGER NOT NULL,
    last_failure BIGINT  NOT NULL,
    locked_until BIGINT  NOT NULL,
    PRIMARY KEY (email, client)
);
