package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/usermgmt/usermgmt/core/activity"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// ProcessedEvents is the consumer's inbox on SQL.
type ProcessedEvents struct{ db *DB }

var _ ports.ProcessedEvents = (*ProcessedEvents)(nil)

// NewProcessedEvents returns the inbox of db.
func NewProcessedEvents(db *DB) *ProcessedEvents { return &ProcessedEvents{db: db} }

// MarkProcessed inserts the event id unless present; one statement, so two
// consumers racing on one redelivered event cannot both see it as new.
func (r *ProcessedEvents) MarkProcessed(ctx context.Context, consumer, eventID string, when time.Time) (bool, error) {
	res, err := r.db.conn(ctx).NewRaw(`INSERT INTO processed_events (consumer, event_id, processed_at) VALUES (?, ?, ?)
		ON CONFLICT (consumer, event_id) DO NOTHING`, consumer, eventID, at(when)).Exec(ctx)
	return affected(res, err, "mark event %s processed", eventID)
}

// Activities persists user activity records.
type Activities struct{ db *DB }

var _ ports.Activities = (*Activities)(nil)

// NewActivities returns the activity records of db.
func NewActivities(db *DB) *Activities { return &Activities{db: db} }

type activityRow struct {
	bun.BaseModel `bun:"table:user_activity,alias:a"`

	UserID            string `bun:"user_id,pk"`
	ConnectedAccounts int    `bun:"connected_accounts"`
	Campaigns         int    `bun:"campaigns"`
	LastActivityAt    dbTime `bun:"last_activity_at"`
	Plan              string `bun:"plan"`
	Features          string `bun:"features"`     // JSON array
	Restrictions      string `bun:"restrictions"` // JSON array
	UpdatedAt         dbTime `bun:"updated_at"`
}

func toActivityRow(a activity.Activity) (activityRow, error) {
	features, err := json.Marshal(nonNil(a.Features))
	if err != nil {
		return activityRow{}, err
	}
	restrictions, err := json.Marshal(nonNil(a.Restrictions))
	if err != nil {
		return activityRow{}, err
	}
	return activityRow{UserID: string(a.UserID), ConnectedAccounts: a.ConnectedAccounts, Campaigns: a.Campaigns,
		LastActivityAt: at(a.LastActivityAt), Plan: a.Plan, Features: string(features),
		Restrictions: string(restrictions), UpdatedAt: at(a.UpdatedAt)}, nil
}

func fromActivityRow(r activityRow) (activity.Activity, error) {
	a := activity.Activity{UserID: user.ID(r.UserID), ConnectedAccounts: r.ConnectedAccounts, Campaigns: r.Campaigns,
		LastActivityAt: r.LastActivityAt.Time, Plan: r.Plan, UpdatedAt: r.UpdatedAt.Time}
	if err := json.Unmarshal([]byte(r.Features), &a.Features); err != nil {
		return activity.Activity{}, fmt.Errorf("sqlstore: features of %s: %w", r.UserID, err)
	}
	if err := json.Unmarshal([]byte(r.Restrictions), &a.Restrictions); err != nil {
		return activity.Activity{}, fmt.Errorf("sqlstore: restrictions of %s: %w", r.UserID, err)
	}
	return a, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ByUser returns the user's record, or a zero one.
func (r *Activities) ByUser(ctx context.Context, uid user.ID) (activity.Activity, error) {
	var row activityRow
	err := r.db.readConn(ctx).NewSelect().Model(&row).Where("a.user_id = ?", string(uid)).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return activity.Activity{UserID: uid}, nil
	case err != nil:
		return activity.Activity{}, fmt.Errorf("sqlstore: select activity: %w", err)
	}
	return fromActivityRow(row)
}

// Update creates the row if needed, locks it, applies fn and saves it, in
// ctx's transaction or its own: concurrent updates never lose a change.
func (r *Activities) Update(ctx context.Context, uid user.ID, fn func(*activity.Activity) error) (activity.Activity, error) {
	var out activity.Activity
	_, err := r.db.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		if _, err := tx.NewRaw(`INSERT INTO user_activity (user_id) VALUES (?) ON CONFLICT (user_id) DO NOTHING`,
			string(uid)).Exec(ctx); err != nil {
			return fmt.Errorf("sqlstore: create activity: %w", err)
		}
		var row activityRow
		q := tx.NewSelect().Model(&row).Where("a.user_id = ?", string(uid))
		if r.db.postgres() {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return fmt.Errorf("sqlstore: lock activity: %w", err)
		}
		a, err := fromActivityRow(row)
		if err != nil {
			return err
		}
		if err := fn(&a); err != nil {
			return err
		}
		a.UserID = uid
		next, err := toActivityRow(a)
		if err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Model(&next).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("sqlstore: save activity: %w", err)
		}
		out = a
		return nil
	})
	if err != nil {
		return activity.Activity{}, err
	}
	return out, nil
}
