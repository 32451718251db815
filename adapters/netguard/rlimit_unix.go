//go:build unix

package netguard

import (
	"fmt"
	"math"
	"syscall"
)

// DescriptorLimit is the process's soft RLIMIT_NOFILE: how many
// descriptors it may hold open. Go raises the soft limit to the hard one
// at start, so this is the limit the process actually runs under.
func DescriptorLimit() (int, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("netguard: read the descriptor limit: %w", err)
	}
	if uint64(r.Cur) > math.MaxInt32 { //nolint:gosec,unconvert // Cur is signed on some systems; RLIM_INFINITY is huge
		return math.MaxInt32, nil
	}
	return int(r.Cur), nil //nolint:gosec // bounded above
}
