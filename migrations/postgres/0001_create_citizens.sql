-- The citizen registry: identities and credentials (owned by crates/citizen-registry).
CREATE TABLE citizens (
    id                  TEXT PRIMARY KEY NOT NULL,
    cpr                 TEXT NOT NULL UNIQUE,
    user_id             TEXT NOT NULL,
    user_id_key         TEXT NOT NULL UNIQUE,
    given_name          TEXT NOT NULL,
    family_name         TEXT NOT NULL,
    birth_date          TEXT NOT NULL,
    email               TEXT,
    status              TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deceased')),
    ial                 TEXT NOT NULL DEFAULT 'substantial' CHECK (ial IN ('low', 'substantial', 'high')),
    password_hash       TEXT,
    password_changed_at BIGINT,
    totp_secret         TEXT,
    totp_enrolled_at    BIGINT,
    totp_last_step      BIGINT,
    failed_attempts     BIGINT NOT NULL DEFAULT 0,
    locked_until        BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
