package system_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/system"
)

// TestBackground_BoundedAndDrained: work beyond the queue is refused at
// once, and Close waits for everything that was accepted.
func TestBackground_BoundedAndDrained(t *testing.T) {
	b := system.NewBackground(1, 2, time.Minute, nil)
	release, started := make(chan struct{}), make(chan struct{}, 3)
	var done atomic.Int32
	work := func(context.Context) error { started <- struct{}{}; <-release; done.Add(1); return nil }
	if err := b.Run("test", work); err != nil {
		t.Fatal(err)
	}
	<-started // the worker holds the first job: the queue is empty
	// Two fit in the queue; the third finds it full.
	for i := range 3 {
		err := b.Run("test", work)
		if (err == nil) != (i < 2) || err != nil && !errors.Is(err, system.ErrBusy) {
			t.Fatalf("job %d: %v", i+2, err)
		}
	}
	close(release)
	if err := b.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if done.Load() != 3 {
		t.Fatalf("Close returned with %d of 3 done", done.Load())
	}
	if err := b.Run("late", work); !errors.Is(err, system.ErrBusy) {
		t.Fatalf("work after Close: %v", err)
	}
}

// TestBackground_WorkHasItsOwnDeadline: work does not inherit a caller's
// cancellation, but is bounded by the queue's timeout.
func TestBackground_WorkHasItsOwnDeadline(t *testing.T) {
	b := system.NewBackground(1, 1, 50*time.Millisecond, nil)
	got := make(chan error, 1)
	if err := b.Run("test", func(ctx context.Context) error { <-ctx.Done(); got <- ctx.Err(); return nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("work ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("work ran past its deadline")
	}
	if err := b.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}
