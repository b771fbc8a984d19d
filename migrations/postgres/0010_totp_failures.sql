-- Wrong one-time codes per citizen, with the same backoff as wrong passwords: a password login
-- resets the password counter, so code guessing needs a counter of its own.
ALTER TABLE citizens ADD COLUMN totp_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE citizens ADD COLUMN totp_locked_until BIGINT;
