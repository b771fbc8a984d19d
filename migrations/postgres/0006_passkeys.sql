-- Passkeys (WebAuthn credentials, owned by crates/citizen-registry): one row per credential.
-- `passkey` is the provider's serialized credential (JSON: public key, signature counter,
-- backup state); it holds no secret. `credential_id` is the base64url credential id.
CREATE TABLE passkeys (
    credential_id TEXT PRIMARY KEY NOT NULL,
    citizen_id    TEXT NOT NULL,
    name          TEXT NOT NULL,
    passkey       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX passkeys_citizen ON passkeys (citizen_id);

-- WebAuthn ceremonies in flight outside a login (owned by crates/oidc-provider): adding a
-- passkey from the account page. The ceremony state (challenge and options) is here, not in
-- one node's memory; a row is taken (deleted) by the one request that finishes it.
CREATE TABLE webauthn_challenges (
    id           TEXT PRIMARY KEY NOT NULL,
    citizen_id   TEXT NOT NULL,
    session_hash TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX webauthn_challenges_expires ON webauthn_challenges (expires_at);
