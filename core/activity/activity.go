// Package activity is what other services tell usermgmt about a user's
// activity and standing: connected accounts, campaigns, the subscription
// plan and compliance restrictions. It is fed only by consumed events.
package activity

import (
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/user"
)

// Restriction limits what a user may do after a compliance violation.
type Restriction string

// The restrictions, by the severity that imposes them.
const (
	RestrictionReview    Restriction = "review"      // medium: flagged for review
	RestrictionSuspended Restriction = "suspended"   // high: sessions ended
	RestrictionDisabled  Restriction = "deactivated" // critical: account deactivated
)

// Activity is one user's record.
type Activity struct {
	UserID            user.ID
	ConnectedAccounts int
	Campaigns         int
	LastActivityAt    time.Time // zero until the first activity
	Plan              string
	Features          []string
	Restrictions      []Restriction
	UpdatedAt         time.Time
}

// Touch records activity at t, keeping the latest.
func (a *Activity) Touch(t time.Time) {
	if t.After(a.LastActivityAt) {
		a.LastActivityAt = t
	}
}

// Restrict adds r and reports whether it was new.
func (a *Activity) Restrict(r Restriction) bool {
	if slices.Contains(a.Restrictions, r) {
		return false
	}
	a.Restrictions = append(a.Restrictions, r)
	return true
}
