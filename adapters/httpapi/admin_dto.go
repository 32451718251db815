package httpapi

import (
	"time"

	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/user"
)

// userSearchQuery are the parameters of GET /v1/admin/users.
type userSearchQuery struct {
	Q               string    `query:"q" validate:"max=100" doc:"case-insensitive substring of the email, username or display name"`
	Status          string    `query:"status" validate:"max=16" doc:"active, inactive or deleted (deleted accounts are listed only when asked for)"`
	Role            string    `query:"role" validate:"max=64"`
	MFAEnabled      *bool     `query:"mfaEnabled"`
	EmailVerified   *bool     `query:"emailVerified"`
	CreatedAfter    time.Time `query:"createdAfter"`
	CreatedBefore   time.Time `query:"createdBefore"`
	LastLoginBefore time.Time `query:"lastLoginBefore" doc:"accounts that never signed in match too"`
	Sort            string    `query:"sort" validate:"max=16" doc:"createdAt (default), email or lastLoginAt"`
	Order           string    `query:"order" validate:"max=4" doc:"asc or desc; desc by default for times, asc for email"`
	Cursor          string    `query:"cursor" validate:"max=512" doc:"nextCursor of the previous page, with the same filters"`
	Limit           int       `query:"limit" validate:"min=1,max=100" doc:"page size, 20 by default"`
}

func (in userSearchQuery) query() (user.Query, error) {
	var v errs.Validation
	q := user.Query{Text: in.Q, Role: in.Role, MFAEnabled: in.MFAEnabled, EmailVerified: in.EmailVerified,
		CreatedAfter: in.CreatedAfter, CreatedBefore: in.CreatedBefore, LastLoginBefore: in.LastLoginBefore,
		Sort: user.SortField(in.Sort), Limit: in.Limit}
	if in.Status != "" {
		st, err := user.ParseStatus(in.Status)
		v.Check("status", err)
		q.Status = st
	}
	if q.Sort == "" {
		q.Sort = user.SortCreatedAt
	}
	switch in.Order {
	case "":
		q.Descending = q.Sort != user.SortEmail
	case "asc", "desc":
		q.Descending = in.Order == "desc"
	default:
		v.Add("order", "must be asc or desc")
	}
	return q, v.Err()
}

type adminUpdateUserRequest struct {
	Email         *string `json:"email,omitempty" validate:"omitempty,max=254"`
	Username      *string `json:"username,omitempty" validate:"omitempty,max=32"`
	DisplayName   *string `json:"displayName,omitempty" validate:"omitempty,max=400"`
	EmailVerified *bool   `json:"emailVerified,omitempty"`
}

type reasonRequest struct {
	Reason string `json:"reason" validate:"required,max=2000"`
}

type setRolesRequest struct {
	Roles []string `json:"roles" validate:"max=32,dive,max=64"`
}

type bulkRequest struct {
	Action string   `json:"action" validate:"required,max=32"`
	IDs    []string `json:"ids" validate:"required,max=1000,dive,max=64"`
	Reason string   `json:"reason,omitempty" validate:"max=2000"`
	Role   string   `json:"role,omitempty" validate:"max=64"`
}

type bulkError struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
}

type bulkResult struct {
	ID     string     `json:"id"`
	Status string     `json:"status"` // changed, unchanged or failed
	Error  *bulkError `json:"error,omitempty"`
}

type bulkResponse struct {
	Results []bulkResult `json:"results"`
}

type createRoleRequest struct {
	Name        string   `json:"name" validate:"required,max=64"`
	Description string   `json:"description,omitempty" validate:"max=400"`
	Permissions []string `json:"permissions" validate:"max=64,dive,max=64"`
}

type updateRoleRequest struct {
	Description *string   `json:"description,omitempty" validate:"omitempty,max=400"`
	Permissions *[]string `json:"permissions,omitempty" validate:"omitempty,max=64,dive,max=64"`
}

type roleResponse struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Permissions []string   `json:"permissions"`
	BuiltIn     bool       `json:"builtIn"`
	CreatedAt   *time.Time `json:"createdAt,omitempty"`
	UpdatedAt   *time.Time `json:"updatedAt,omitempty"`
}

type rolesResponse struct {
	Items []roleResponse `json:"items"`
}

// adminUserResponse is the account as staff see it.
type adminUserResponse struct {
	userResponse
	LastLoginAt *time.Time `json:"lastLoginAt,omitempty"`
	DeletedAt   *time.Time `json:"deletedAt,omitempty"`
}

type userPageResponse struct {
	Items      []adminUserResponse `json:"items"`
	NextCursor string              `json:"nextCursor,omitempty"`
}

// auditFilterQuery are the filters of the audit search and export.
type auditFilterQuery struct {
	Actor     string    `query:"actor" validate:"max=64" doc:"the id of who acted"`
	ActorType string    `query:"actorType" validate:"max=16" doc:"user, apikey or system"`
	Target    string    `query:"target" validate:"max=128"`
	Action    string    `query:"action" validate:"max=64"`
	Outcome   string    `query:"outcome" validate:"max=16" doc:"success, failure or denied"`
	Org       string    `query:"org" validate:"max=64"`
	From      time.Time `query:"from"`
	To        time.Time `query:"to"`
}

// auditQuery is the audit search: the filters and a page.
type auditQuery struct {
	auditFilterQuery
	Cursor string `query:"cursor" validate:"max=512"`
	Limit  int    `query:"limit" validate:"min=1,max=100"`
}

type auditExportQuery auditFilterQuery

func (in auditExportQuery) filter() (audit.Filter, error) { return auditFilterQuery(in).filter() }

func (in auditFilterQuery) filter() (audit.Filter, error) {
	var v errs.Validation
	f := audit.Filter{Actor: audit.Actor{ID: in.Actor}, Target: in.Target, Action: in.Action, Org: in.Org, From: in.From, To: in.To}
	if in.ActorType != "" {
		k, err := audit.ParseActorKind(in.ActorType)
		v.Check("actorType", err)
		f.Actor.Kind = k
	}
	if in.Outcome != "" {
		o, err := audit.ParseOutcome(in.Outcome)
		v.Check("outcome", err)
		f.Outcome = o
	}
	if err := v.Err(); err != nil {
		return audit.Filter{}, err
	}
	return f, nil
}

type auditActor struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

type auditEntryResponse struct {
	Seq       int64             `json:"seq"`
	At        time.Time         `json:"at"`
	Actor     auditActor        `json:"actor"`
	Action    string            `json:"action"`
	Target    string            `json:"target,omitempty"`
	Org       string            `json:"org,omitempty"`
	IP        string            `json:"ip,omitempty"`
	UserAgent string            `json:"userAgent,omitempty"`
	RequestID string            `json:"requestId,omitempty"`
	Outcome   string            `json:"outcome"`
	Details   map[string]string `json:"details,omitempty"`
	PrevHash  string            `json:"prevHash"`
	Hash      string            `json:"hash"`
}

type auditPageResponse struct {
	Items      []auditEntryResponse `json:"items"`
	NextCursor string               `json:"nextCursor,omitempty"`
}

func toAdminUserResponse(l user.Listed) adminUserResponse {
	out := adminUserResponse{userResponse: toUserResponse(l.User)}
	if !l.LastLoginAt.IsZero() {
		t := l.LastLoginAt
		out.LastLoginAt = &t
	}
	if t := l.DeletedAt(); !t.IsZero() {
		out.DeletedAt = &t
	}
	return out
}

func toRoleResponse(r role.Role) roleResponse {
	out := roleResponse{Name: r.Name, Description: r.Description, Permissions: make([]string, len(r.Permissions)), BuiltIn: r.BuiltIn}
	for i, p := range r.Permissions {
		out.Permissions[i] = string(p)
	}
	if !r.BuiltIn {
		c, u := r.CreatedAt, r.UpdatedAt
		out.CreatedAt, out.UpdatedAt = &c, &u
	}
	return out
}

func permissions(names []string) []role.Permission {
	out := make([]role.Permission, len(names))
	for i, n := range names {
		out[i] = role.Permission(n)
	}
	return out
}

func toAuditEntryResponse(e audit.Entry) auditEntryResponse {
	return auditEntryResponse{Seq: e.Seq, At: e.At, Actor: auditActor{Type: string(e.Actor.Kind), ID: e.Actor.ID},
		Action: e.Action, Target: e.Target, Org: e.Org, IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID,
		Outcome: string(e.Outcome), Details: e.Details, PrevHash: e.PrevHash.String(), Hash: e.Hash.String()}
}
