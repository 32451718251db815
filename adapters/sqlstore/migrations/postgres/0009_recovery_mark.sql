-- 0009: when a password was last set through an emailed recovery. Until a
-- sign-in completes, email does not count as the second factor: the same
-- mailbox that reset the password must not also pass MFA (MF-08).
ALTER TABLE credentials ADD COLUMN recovered_at timestamptz;
