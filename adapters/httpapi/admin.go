package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/usermgmt/usermgmt/core/admin"
	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
)

// mimeNDJSON is the media type of the audit export: one JSON object a line.
const mimeNDJSON = "application/x-ndjson"

// adminRoutes are the routes of staff: accounts, roles and the audit trail.
// Each declares the permission its use case checks (AC-01).
func (a *API) adminRoutes() []route {
	// Writes lock rows; a lost deadlock or serialization race is a 503
	// with Retry-After.
	userFails := []errs.Kind{errs.Forbidden, errs.Conflict, errs.Unavailable}
	roleFails := []errs.Kind{errs.Forbidden, errs.Conflict, errs.Unavailable}
	return []route{
		{method: fiber.MethodGet, path: "/v1/admin/users", summary: "Search accounts: text, filters, sort and keyset pages", tag: "admin",
			query: userSearchQuery{}, status: fiber.StatusOK, resp: userPageResponse{}, fails: []errs.Kind{errs.Forbidden}, perm: role.UsersRead, authed: a.searchUsers},
		{method: fiber.MethodPost, path: "/v1/admin/users/bulk", summary: "Apply one action to up to 1000 accounts, each authorized and committed on its own", tag: "admin",
			body: bulkRequest{}, status: fiber.StatusOK, resp: bulkResponse{}, fails: []errs.Kind{errs.Forbidden, errs.Unavailable}, perm: role.UsersWrite, authed: a.bulkUsers},
		{method: fiber.MethodGet, path: "/v1/admin/users/:id", summary: "One account, with its last sign-in", tag: "admin",
			status: fiber.StatusOK, resp: adminUserResponse{}, fails: []errs.Kind{errs.Forbidden}, perm: role.UsersRead, authed: a.getUser},
		{method: fiber.MethodPatch, path: "/v1/admin/users/:id", summary: "Edit an account's email, username, display name or email verification", tag: "admin",
			body: adminUpdateUserRequest{}, status: fiber.StatusOK, resp: adminUserResponse{}, fails: userFails, perm: role.UsersWrite, authed: a.updateUser},
		{method: fiber.MethodDelete, path: "/v1/admin/users/:id", summary: "Delete an account: it can be restored until the retention ends, then it is erased", tag: "admin",
			body: reasonRequest{}, status: fiber.StatusOK, resp: adminUserResponse{}, fails: userFails, perm: role.UsersDelete, authed: a.deleteUser},
		{method: fiber.MethodPost, path: "/v1/admin/users/:id/activate", summary: "Let an inactive account sign in again", tag: "admin",
			status: fiber.StatusOK, resp: adminUserResponse{}, fails: userFails, perm: role.UsersWrite, authed: a.activateUser},
		{method: fiber.MethodPost, path: "/v1/admin/users/:id/deactivate", summary: "Stop an account from signing in; its sessions end at once", tag: "admin",
			body: reasonRequest{}, status: fiber.StatusOK, resp: adminUserResponse{}, fails: userFails, perm: role.UsersWrite, authed: a.deactivateUser},
		{method: fiber.MethodPost, path: "/v1/admin/users/:id/restore", summary: "Bring back a deleted account, inactive, within the retention", tag: "admin",
			status: fiber.StatusOK, resp: adminUserResponse{}, fails: userFails, perm: role.UsersDelete, authed: a.restoreUser},
		{method: fiber.MethodPost, path: "/v1/admin/users/:id/password-reset", summary: "Mail the account a password-reset link", tag: "admin",
			status: fiber.StatusAccepted, resp: acceptedResponse{}, fails: []errs.Kind{errs.Forbidden}, perm: role.UsersWrite, authed: a.resetUserPassword},
		{method: fiber.MethodPut, path: "/v1/admin/users/:id/roles", summary: "Replace an account's roles; its access tokens stop at once, refresh carries the new roles", tag: "admin",
			body: setRolesRequest{}, status: fiber.StatusOK, resp: adminUserResponse{}, fails: userFails, perm: role.RolesManage, authed: a.setUserRoles},
		{method: fiber.MethodGet, path: "/v1/admin/roles", summary: "The built-in and custom roles with their permissions", tag: "admin",
			status: fiber.StatusOK, resp: rolesResponse{}, fails: []errs.Kind{errs.Forbidden}, perm: role.UsersRead, authed: a.listRoles},
		{method: fiber.MethodPost, path: "/v1/admin/roles", summary: "Define a custom role with permissions the caller holds", tag: "admin",
			body: createRoleRequest{}, status: fiber.StatusCreated, resp: roleResponse{}, fails: roleFails, perm: role.RolesManage, authed: a.createRole},
		{method: fiber.MethodPatch, path: "/v1/admin/roles/:name", summary: "Edit a custom role", tag: "admin",
			body: updateRoleRequest{}, status: fiber.StatusOK, resp: roleResponse{}, fails: roleFails, perm: role.RolesManage, authed: a.updateRole},
		{method: fiber.MethodDelete, path: "/v1/admin/roles/:name", summary: "Delete a custom role that no account holds", tag: "admin",
			status: fiber.StatusNoContent, fails: roleFails, perm: role.RolesManage, authed: a.deleteRole},
		{method: fiber.MethodGet, path: "/v1/audit", summary: "Search the audit trail, newest first, in keyset pages", tag: "audit",
			query: auditQuery{}, status: fiber.StatusOK, resp: auditPageResponse{}, fails: []errs.Kind{errs.Forbidden}, perm: role.AuditRead, authed: a.searchAudit},
		{method: fiber.MethodGet, path: "/v1/audit/export", summary: "Stream the matching audit entries, oldest first, as JSON lines", tag: "audit",
			query: auditExportQuery{}, status: fiber.StatusOK, rawResp: rawBody{mimeNDJSON, "one audit entry per line"}, fails: []errs.Kind{errs.Forbidden},
			perm: role.AuditRead, authed: a.exportAudit},
	}
}

// errBadID refuses a path id with control characters (IV-06).
var errBadID = errs.ErrValidation.WithFields(errs.FieldError{Field: "id", Message: "must not contain control characters"})

// userID is the :id of a path; a value no account can have is not found.
func userID(c *fiber.Ctx) (user.ID, error) {
	id := c.Params("id")
	if hasControl(id) {
		return "", errBadID
	}
	if id == "" || len(id) > 64 {
		return "", errNotFound
	}
	return user.ID(id), nil
}

// userOp runs one of the lifecycle operations on the :id account and
// answers with the account as it is now (lastLoginAt is in GET's answer).
func userOp(c *fiber.Ctx, op func(context.Context, user.ID) (user.User, error)) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	u, err := op(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(toAdminUserResponse(user.Listed{User: u}))
}

func (a *API) searchUsers(c *fiber.Ctx, p token.Claims) error {
	var in userSearchQuery
	if err := decodeQuery(c, &in); err != nil {
		return err
	}
	q, err := in.query()
	if err != nil {
		return err
	}
	page, err := a.uc.Admin.Directory.Search(c.UserContext(), p, q, in.Cursor)
	if err != nil {
		return err
	}
	out := userPageResponse{Items: make([]adminUserResponse, len(page.Items)), NextCursor: page.Next}
	for i, l := range page.Items {
		out.Items[i] = toAdminUserResponse(l)
	}
	return c.JSON(out)
}

func (a *API) getUser(c *fiber.Ctx, p token.Claims) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	l, err := a.uc.Admin.Directory.Get(c.UserContext(), p, id)
	if err != nil {
		return err
	}
	return c.JSON(toAdminUserResponse(l))
}

func (a *API) updateUser(c *fiber.Ctx, p token.Claims) error {
	var in adminUpdateUserRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	return userOp(c, func(ctx context.Context, id user.ID) (user.User, error) {
		return a.uc.Admin.Users.Update(ctx, p, id, user.AdminUpdate{Email: in.Email, Username: in.Username,
			DisplayName: in.DisplayName, EmailVerified: in.EmailVerified})
	})
}

func (a *API) deleteUser(c *fiber.Ctx, p token.Claims) error {
	var in reasonRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	return userOp(c, func(ctx context.Context, id user.ID) (user.User, error) {
		return a.uc.Admin.Users.Delete(ctx, p, id, in.Reason)
	})
}

func (a *API) activateUser(c *fiber.Ctx, p token.Claims) error {
	return userOp(c, func(ctx context.Context, id user.ID) (user.User, error) {
		return a.uc.Admin.Users.Activate(ctx, p, id)
	})
}

func (a *API) deactivateUser(c *fiber.Ctx, p token.Claims) error {
	var in reasonRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	return userOp(c, func(ctx context.Context, id user.ID) (user.User, error) {
		return a.uc.Admin.Users.Deactivate(ctx, p, id, in.Reason)
	})
}

func (a *API) restoreUser(c *fiber.Ctx, p token.Claims) error {
	return userOp(c, func(ctx context.Context, id user.ID) (user.User, error) {
		return a.uc.Admin.Users.Restore(ctx, p, id)
	})
}

func (a *API) setUserRoles(c *fiber.Ctx, p token.Claims) error {
	var in setRolesRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	return userOp(c, func(ctx context.Context, id user.ID) (user.User, error) {
		return a.uc.Admin.Users.SetRoles(ctx, p, id, in.Roles)
	})
}

func (a *API) resetUserPassword(c *fiber.Ctx, p token.Claims) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	if err := a.uc.Admin.Users.SendPasswordReset(c.UserContext(), p, id); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(acceptedResponse{Status: "accepted"})
}

func (a *API) bulkUsers(c *fiber.Ctx, p token.Claims) error {
	var in bulkRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	ids := make([]user.ID, len(in.IDs))
	for i, id := range in.IDs {
		ids[i] = user.ID(id)
	}
	res, err := a.uc.Admin.Users.Bulk(c.UserContext(), p, admin.Bulk{Action: admin.BulkAction(in.Action), IDs: ids, Reason: in.Reason, Role: in.Role})
	if err != nil {
		return err
	}
	out := bulkResponse{Results: make([]bulkResult, len(res))}
	for i, r := range res {
		out.Results[i] = bulkResult{ID: string(r.ID), Status: string(r.Status)}
		if r.Err != nil {
			e := itemProblem(r.Err)
			out.Results[i].Error = &e
		}
	}
	return c.JSON(out)
}

func (a *API) listRoles(c *fiber.Ctx, p token.Claims) error {
	rs, err := a.uc.Admin.Roles.List(c.UserContext(), p)
	if err != nil {
		return err
	}
	out := rolesResponse{Items: make([]roleResponse, len(rs))}
	for i, r := range rs {
		out.Items[i] = toRoleResponse(r)
	}
	return c.JSON(out)
}

func (a *API) createRole(c *fiber.Ctx, p token.Claims) error {
	var in createRoleRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	r, err := a.uc.Admin.Roles.Create(c.UserContext(), p, in.Name, in.Description, permissions(in.Permissions))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(toRoleResponse(r))
}

func (a *API) updateRole(c *fiber.Ctx, p token.Claims) error {
	var in updateRoleRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	e := role.Edit{Description: in.Description}
	if in.Permissions != nil {
		perms := permissions(*in.Permissions)
		e.Permissions = &perms
	}
	r, err := a.uc.Admin.Roles.Update(c.UserContext(), p, roleName(c), e)
	if err != nil {
		return err
	}
	return c.JSON(toRoleResponse(r))
}

func (a *API) deleteRole(c *fiber.Ctx, p token.Claims) error {
	if err := a.uc.Admin.Roles.Delete(c.UserContext(), p, roleName(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// roleName is the :name of a path; a name no role can have finds none.
func roleName(c *fiber.Ctx) string {
	if n := c.Params("name"); role.ValidName(n) {
		return n
	}
	return "-"
}

func (a *API) searchAudit(c *fiber.Ctx, p token.Claims) error {
	var in auditQuery
	if err := decodeQuery(c, &in); err != nil {
		return err
	}
	f, err := in.filter()
	if err != nil {
		return err
	}
	page, err := a.uc.Admin.Trail.Search(c.UserContext(), p, f, in.Cursor, in.Limit)
	if err != nil {
		return err
	}
	out := auditPageResponse{Items: make([]auditEntryResponse, len(page.Items)), NextCursor: page.Next}
	for i, e := range page.Items {
		out.Items[i] = toAuditEntryResponse(e)
	}
	return c.JSON(out)
}

// exportTimeout bounds one export stream, so a client that stops reading
// cannot hold a database cursor open forever.
const exportTimeout = 10 * time.Minute

func (a *API) exportAudit(c *fiber.Ctx, p token.Claims) error {
	var in auditExportQuery
	if err := decodeQuery(c, &in); err != nil {
		return err
	}
	f, err := in.filter()
	if err != nil {
		return err
	}
	stream, err := a.uc.Admin.Trail.Exporter(c.UserContext(), p, f)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, mimeNDJSON)
	log := a.opt.Logger
	// The stream runs after the handler returns, on a context of its own:
	// the request's is recycled with it.
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithTimeout(context.Background(), exportTimeout)
		defer cancel()
		enc := json.NewEncoder(w)
		err := stream(ctx, func(e audit.Entry) error {
			if err := enc.Encode(toAuditEntryResponse(e)); err != nil {
				return err
			}
			return w.Flush()
		})
		if err != nil {
			log.WarnContext(ctx, "audit export ended early", "err", err)
		}
	})
	return nil
}

// itemProblem is the problem of one failed item of a bulk request, in the
// terms of a whole answer's problem: a failure's details stay hidden.
func itemProblem(err error) bulkError {
	var de *errs.Error
	if errors.As(err, &de) && de.Kind != errs.Internal {
		return bulkError{Type: ProblemTypeBase + de.Code, Title: de.Msg, Status: statusOf[de.Kind]}
	}
	return bulkError{Type: ProblemTypeBase + errInternal.Code, Title: errInternal.Msg, Status: fiber.StatusInternalServerError}
}
