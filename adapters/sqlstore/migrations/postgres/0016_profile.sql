-- 0016: the owner's profile: an avatar address, a BCP 47 locale and an
-- IANA time zone, each '' when unset. The rules live in core/user, so the
-- columns are plain text. A constant default makes each ADD COLUMN a
-- catalog change: the table is not rewritten, whatever its size.
ALTER TABLE users
	ADD COLUMN avatar_url text NOT NULL DEFAULT '',
	ADD COLUMN locale     text NOT NULL DEFAULT '',
	ADD COLUMN time_zone  text NOT NULL DEFAULT '';
