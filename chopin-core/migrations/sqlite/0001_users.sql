-- Chopin's users. Timestamps are RFC 3339 text so both backends read them the same way.
CREATE TABLE chopin_users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    email          TEXT    NOT NULL,
    username       TEXT    NOT NULL,
    password_hash  TEXT    NOT NULL,
    role           TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'moderator', 'admin')),
    created_at     TEXT    NOT NULL,
    deactivated_at TEXT
);
CREATE UNIQUE INDEX chopin_users_email_key ON chopin_users (email);
CREATE UNIQUE INDEX chopin_users_username_key ON chopin_users (lower(username));
