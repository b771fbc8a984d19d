-- Password and one-time-code attempts being checked right now, per citizen: an attempt is
-- reserved here (atomically, with the lock and the failure count in the same row) before the
-- password or code is compared, so parallel guesses get no more checks than the lockout policy
-- allows. A reservation is a lease: if the node dies mid-check, it lapses at *_lease_until.
ALTER TABLE citizens ADD COLUMN attempts_in_flight BIGINT NOT NULL DEFAULT 0;
ALTER TABLE citizens ADD COLUMN attempts_lease_until BIGINT;
ALTER TABLE citizens ADD COLUMN totp_in_flight BIGINT NOT NULL DEFAULT 0;
ALTER TABLE citizens ADD COLUMN totp_lease_until BIGINT;
