package admin

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/auditlog"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/ports"
)

// Trail lets staff read the audit trail (audit:read).
type Trail struct {
	log  *auditlog.Log
	box  ports.SecretBox
	auth *Authorizer
}

// NewTrail returns the audit-trail reader; cursors are sealed by box.
func NewTrail(log *auditlog.Log, box ports.SecretBox, auth *Authorizer) (*Trail, error) {
	if log == nil || box == nil || auth == nil {
		return nil, errors.New("admin.NewTrail: missing dependency")
	}
	return &Trail{log: log, box: box, auth: auth}, nil
}

// TrailPage is one page of the trail, newest first; Next continues it.
type TrailPage struct {
	Items []audit.Entry
	Next  string
}

// Search returns the entries matching f after cursor, newest first.
func (t *Trail) Search(ctx context.Context, p token.Claims, f audit.Filter, cursor string, limit int) (TrailPage, error) {
	if _, err := t.auth.Principal(ctx, p, role.AuditRead); err != nil {
		return TrailPage{}, fmt.Errorf("search audit trail: %w", err)
	}
	if err := f.Validate(); err != nil {
		return TrailPage{}, err
	}
	var below int64
	if cursor != "" {
		var err error
		if below, err = t.open(cursor, f); err != nil {
			return TrailPage{}, err
		}
	}
	page, err := t.log.Search(ctx, f, below, limit)
	if err != nil {
		return TrailPage{}, err
	}
	out := TrailPage{Items: page.Items}
	if page.Next > 0 {
		if out.Next, err = t.seal(page.Next, f); err != nil {
			return TrailPage{}, fmt.Errorf("search audit trail: %w", err)
		}
	}
	return out, nil
}

// Exporter authorizes an export of the entries matching f and returns
// what streams them, oldest first, to fn: a transport answers a refusal
// before it starts a stream it could no longer turn into an error.
func (t *Trail) Exporter(ctx context.Context, p token.Claims, f audit.Filter) (func(ctx context.Context, fn func(audit.Entry) error) error, error) {
	if _, err := t.auth.Principal(ctx, p, role.AuditRead); err != nil {
		return nil, fmt.Errorf("export audit trail: %w", err)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return func(ctx context.Context, fn func(audit.Entry) error) error { return t.log.Export(ctx, f, fn) }, nil
}

func trailBinding(f audit.Filter) []byte {
	b, _ := json.Marshal(f)
	return append([]byte("admin.audit.cursor\x00"), b...)
}

func (t *Trail) seal(seq int64, f audit.Filter) (string, error) {
	return sealCursor(t.box, binary.BigEndian.AppendUint64(nil, uint64(seq)), trailBinding(f)) //nolint:gosec // seq > 0
}

func (t *Trail) open(cursor string, f audit.Filter) (int64, error) {
	b, err := openCursor(t.box, cursor, trailBinding(f))
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, ErrInvalidCursor
	}
	seq := int64(binary.BigEndian.Uint64(b)) //nolint:gosec // sealed by seal from a positive seq
	if seq <= 0 {
		return 0, ErrInvalidCursor
	}
	return seq, nil
}
