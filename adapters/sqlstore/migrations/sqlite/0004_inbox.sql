-- 0004 inbox: see the Postgres migration of the same number.
CREATE TABLE processed_events (
	consumer     TEXT    NOT NULL,
	event_id     TEXT    NOT NULL,
	processed_at INTEGER NOT NULL,
	PRIMARY KEY (consumer, event_id)
) STRICT;

CREATE TABLE user_activity (
	user_id            TEXT    PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	connected_accounts INTEGER NOT NULL DEFAULT 0,
	campaigns          INTEGER NOT NULL DEFAULT 0,
	last_activity_at   INTEGER,
	plan               TEXT    NOT NULL DEFAULT '',
	features           TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(features)),
	restrictions       TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(restrictions)),
	updated_at         INTEGER
) STRICT;
