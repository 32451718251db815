package memory

import (
	"context"
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/activity"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// ProcessedEvents is the in-memory ports.ProcessedEvents.
type ProcessedEvents struct{ s *Store }

// NewProcessedEvents returns the store's inbox.
func NewProcessedEvents(s *Store) *ProcessedEvents { return &ProcessedEvents{s} }

var _ ports.ProcessedEvents = (*ProcessedEvents)(nil)

// MarkProcessed records the event and reports whether it was new.
func (r *ProcessedEvents) MarkProcessed(ctx context.Context, consumer, eventID string, at time.Time) (bool, error) {
	defer r.s.lock(ctx)()
	key := consumer + "/" + eventID
	if _, ok := r.s.processed[key]; ok {
		return false, nil
	}
	r.s.processed[key] = at
	onRollback(ctx, func() { delete(r.s.processed, key) })
	return true, nil
}

// Activities is the in-memory ports.Activities.
type Activities struct{ s *Store }

// NewActivities returns the store's activity records.
func NewActivities(s *Store) *Activities { return &Activities{s} }

var _ ports.Activities = (*Activities)(nil)

func cloneActivity(a activity.Activity) activity.Activity {
	a.Features = slices.Clone(a.Features)
	a.Restrictions = slices.Clone(a.Restrictions)
	return a
}

// ByUser returns the user's record, or a zero one.
func (r *Activities) ByUser(ctx context.Context, uid user.ID) (activity.Activity, error) {
	defer r.s.lock(ctx)()
	a, ok := r.s.activities[string(uid)]
	if !ok {
		return activity.Activity{UserID: uid}, nil
	}
	return cloneActivity(a), nil
}

// Update applies fn to the user's record and saves it.
func (r *Activities) Update(ctx context.Context, uid user.ID, fn func(*activity.Activity) error) (activity.Activity, error) {
	defer r.s.lock(ctx)()
	old, existed := r.s.activities[string(uid)]
	a := activity.Activity{UserID: uid}
	if existed {
		a = cloneActivity(old)
	}
	if err := fn(&a); err != nil {
		return activity.Activity{}, err
	}
	a.UserID = uid
	r.s.activities[string(uid)] = cloneActivity(a)
	onRollback(ctx, func() {
		if existed {
			r.s.activities[string(uid)] = old
		} else {
			delete(r.s.activities, string(uid))
		}
	})
	return a, nil
}
