-- A session identifier per client (OIDC Front-/Back-Channel Logout `sid`): relying parties in
-- different sectors must not be able to join their pairwise subjects on a shared `sid`. The
-- value is random per (session, client); `sso_sessions.sid` stays internal. Rows from before
-- keep the session's own sid, which is what their clients already hold in issued tokens.
ALTER TABLE session_clients ADD COLUMN client_sid TEXT NOT NULL DEFAULT '';
UPDATE session_clients SET client_sid = sid;
CREATE INDEX session_clients_client_sid ON session_clients (client_sid);

-- The client's sid of the grant, for the access tokens a refresh issues (a refresh token may
-- outlive its session_clients row).
ALTER TABLE refresh_tokens ADD COLUMN client_sid TEXT NOT NULL DEFAULT '';
UPDATE refresh_tokens SET client_sid = sid;
