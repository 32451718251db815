-- 0014: see the Postgres migration of the same number.
DROP INDEX users_status_created_idx;
