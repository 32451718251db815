-- 0014: the user directory's indexes, measured at 1,000,000 users.
--
-- Roles are the one filter rare enough (an admin among a hundred users) to
-- be worth an index of its own (0012's GIN). Status and the two flags are
-- not: each value is held by a twentieth of the users or more, so a page in
-- any order is found after a few hundred rows of that order's index, and
-- their indexes only tempted the planner into slower bitmap plans (and cost
-- every write and sign-in an index entry).
DROP INDEX users_status_created_idx;
DROP INDEX users_mfa_created_idx;
DROP INDEX users_unverified_created_idx;

-- The planner estimates LIKE '%x%' from the column's histogram: with the
-- default 100 buckets a text held by 2% of the users can look like 0.01%,
-- and a deep page then sorts every match instead of walking its order. A
-- histogram of 1000 buckets costs a fraction of a millisecond of planning.
ALTER TABLE users ALTER COLUMN search_text SET STATISTICS 1000;
