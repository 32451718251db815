// Package system implements the ports that come from the operating system:
// the wall clock and the CSPRNG (UUIDv7 ids and secrets).
package system

import (
	"crypto/rand"
	"time"

	"github.com/google/uuid"

	"github.com/usermgmt/usermgmt/ports"
)

// Clock is the wall clock, in UTC, truncated to the microsecond every store keeps.
type Clock struct{}

// Now returns the current time.
func (Clock) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// IDs makes UUIDv7 ids and random secrets from crypto/rand.
type IDs struct{}

// NewID returns a new UUIDv7: time-ordered, so ids index well and sort by creation.
func (IDs) NewID() string { return uuid.Must(uuid.NewV7()).String() }

// NewSecret returns n bytes from the CSPRNG. crypto/rand.Read cannot fail on
// supported platforms since Go 1.24 (it aborts the program instead).
func (IDs) NewSecret(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

var (
	_ ports.Clock = Clock{}
	_ ports.IDs   = IDs{}
)
