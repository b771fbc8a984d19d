-- Identity data and privacy (docs/NEMLOGIN.md section 3).

-- What a client may learn (owned by crates/oidc-provider). Flags are 0/1.
ALTER TABLE clients ADD COLUMN public_authority BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN cpr_entitled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN subject_type TEXT NOT NULL DEFAULT 'pairwise';
-- The host whose pairwise subjects the client shares (OIDC Core 8.1); NULL: its redirect host.
ALTER TABLE clients ADD COLUMN sector_identifier TEXT;

-- Per client in an SSO session: what the login released (requested claims, the professional
-- identity or power of attorney chosen) and the CPR-match tries used.
ALTER TABLE session_clients ADD COLUMN release_context TEXT;
ALTER TABLE session_clients ADD COLUMN cpr_match_tries BIGINT NOT NULL DEFAULT 0;

-- Name and address protection (owned by crates/citizen-registry).
ALTER TABLE citizens ADD COLUMN name_protected BIGINT NOT NULL DEFAULT 0;

-- Organisations by CVR number, and citizens' professional identities at them.
CREATE TABLE organisations (
    cvr        TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE employments (
    pro_uuid                TEXT PRIMARY KEY NOT NULL,
    citizen_id              TEXT NOT NULL,
    cvr                     TEXT NOT NULL,
    authorized_to_represent BIGINT NOT NULL DEFAULT 0,
    created_at              BIGINT NOT NULL,
    UNIQUE (citizen_id, cvr)
);

-- Powers of attorney: an agent may act for a principal (a CPR or CVR number) with the named
-- privileges, within [valid_from, valid_until), unless revoked.
CREATE TABLE powers_of_attorney (
    id             TEXT PRIMARY KEY NOT NULL,
    agent_id       TEXT NOT NULL,
    principal_kind TEXT NOT NULL CHECK (principal_kind IN ('cpr', 'cvr')),
    principal      TEXT NOT NULL,
    privileges     TEXT NOT NULL,
    valid_from     BIGINT NOT NULL,
    valid_until    BIGINT NOT NULL,
    revoked_at     BIGINT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX powers_of_attorney_agent ON powers_of_attorney (agent_id);
