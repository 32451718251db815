-- 0004 inbox: consumed events that took effect (a redelivery is a no-op) and
-- what other services report about each user.
CREATE TABLE processed_events (
	consumer     text        NOT NULL,
	event_id     text        NOT NULL,
	processed_at timestamptz NOT NULL,
	PRIMARY KEY (consumer, event_id)
);

CREATE TABLE user_activity (
	user_id            text        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	connected_accounts integer     NOT NULL DEFAULT 0,
	campaigns          integer     NOT NULL DEFAULT 0,
	last_activity_at   timestamptz,
	plan               text        NOT NULL DEFAULT '',
	features           text        NOT NULL DEFAULT '[]',
	restrictions       text        NOT NULL DEFAULT '[]',
	updated_at         timestamptz
);
