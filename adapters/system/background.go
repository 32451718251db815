package system

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/ports"
)

// ErrBusy refuses work when the background queue is full or closing; a
// flood of mailed-link requests is shed instead of piling up goroutines.
var ErrBusy = errs.New(errs.Unavailable, "server.busy", "the server is busy; retry shortly")

// Background is a bounded queue served by a fixed number of workers.
// Close stops taking work and waits for what is queued, so a shutdown
// loses no mail that a request was told would be sent.
type Background struct {
	jobs    chan job
	log     *slog.Logger
	timeout time.Duration
	wg      sync.WaitGroup
	mu      sync.RWMutex // held for reading while queueing, for writing to close
	closed  bool
}

type job struct {
	name string
	work func(context.Context) error
}

// NewBackground starts workers that serve a queue of size queue; each job
// may run for at most timeout.
func NewBackground(workers, queue int, timeout time.Duration, log *slog.Logger) *Background {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Background{jobs: make(chan job, queue), log: log, timeout: timeout}
	b.wg.Add(workers)
	for range workers {
		go b.serve()
	}
	return b
}

var _ ports.Background = (*Background)(nil)

func (b *Background) serve() {
	defer b.wg.Done()
	for j := range b.jobs {
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		if err := j.work(ctx); err != nil {
			b.log.Warn("background work failed", "work", j.name, "err", err)
		}
		cancel()
	}
}

// Run queues work, or refuses with ErrBusy when the queue is full or closed.
func (b *Background) Run(name string, work func(context.Context) error) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrBusy
	}
	select {
	case b.jobs <- job{name, work}:
		return nil
	default:
		b.log.Warn("background work refused: the queue is full", "work", name)
		return ErrBusy
	}
}

// Close refuses new work and waits, at most until ctx ends, for the queued
// work to finish.
func (b *Background) Close(ctx context.Context) error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.jobs)
	}
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
