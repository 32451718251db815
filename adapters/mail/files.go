package mail

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/ports"
)

// Files is the embedded default's mailer: it writes each message to
// <dir>/<timestamp>-<random>.eml (mode 0600, dir 0700), where the operator
// reads it. The links stay in those files and never reach a log. It is safe
// for concurrent use.
type Files struct {
	messages
	dir     string
	clock   func() time.Time
	compose composer
}

var _ ports.Mailer = (*Files)(nil)

// NewFiles returns a mailer writing into dir, creating it (0700) if needed.
// Options: WithFrom (default "usermgmt <no-reply@localhost>"), WithClock.
func NewFiles(dir string, opts ...Option) (*Files, error) {
	if dir == "" {
		return nil, errors.New("mail: empty directory")
	}
	o, err := newOptions(defaultFrom, opts)
	if err != nil {
		return nil, err
	}
	c, err := newComposer(o)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	f := &Files{dir: dir, clock: o.clock.Now, compose: c}
	f.messages = messages{deliver: f.write}
	return f, nil
}

// write writes the message under a temporary name and renames it, so a
// reader never sees half a message.
func (f *Files) write(ctx context.Context, kind, to string, ct content) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	m, err := f.compose.render(kind, to, ct)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(f.dir, ".*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // fails harmlessly after the rename
	if _, err := tmp.Write(m.raw); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("mail: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	name := f.clock().UTC().Format("20060102T150405.000000Z") + "-" + strings.ToLower(rand.Text()[:12]) + ".eml"
	if err := os.Rename(tmp.Name(), filepath.Join(f.dir, name)); err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	return nil
}
