package usermgmt_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

// TestOperations: the operator's jobs as methods, over memory stores.
func TestOperations(t *testing.T) {
	svc := newService(t)
	ctx := t.Context()
	// jBCrypt's vector for "abc", as a Node.js backend would have stored it.
	file := `{"id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","email":"ada@example.com","username":"ada","displayName":"Ada","role":"admin","passwordHash":"$2b$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i","createdAt":"2021-03-04T05:06:07Z"}
{"email":"bad","username":"b","passwordHash":"$2b$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i","createdAt":"2021-03-04T05:06:07Z"}
`
	var results []usermgmt.ImportResult
	sum, err := svc.ImportUsers(ctx, strings.NewReader(file), usermgmt.ImportOptions{Format: usermgmt.FormatJSONLines,
		OnResult: func(r usermgmt.ImportResult) { results = append(results, r) }})
	if err != nil || sum != (usermgmt.ImportSummary{Created: 1, Failed: 1}) {
		t.Fatalf("ImportUsers = %+v, %v", sum, err)
	}
	if r := results[1]; r.Line != 2 || r.Status != usermgmt.ImportFailed ||
		!strings.Contains(r.Reason, "email: must be a valid email") || !strings.Contains(r.Reason, "username: ") || strings.Contains(r.Reason, "$2b$") {
		t.Errorf("line 2: %+v", r)
	}
	// The bcrypt hash signs in, and keeps doing so once rehashed.
	for range 2 {
		u, _, err := svc.Login(ctx, "ada@example.com", "abc", usermgmt.Client{IP: "192.0.2.1"})
		if err != nil || u.ID != "f47ac10b-58cc-4372-a567-0e02b2c3d479" || u.Role != "admin" {
			t.Fatalf("sign-in of the imported account: %+v, %v", u, err)
		}
	}
	var out bytes.Buffer
	n, err := svc.ExportUsers(ctx, &out, nil)
	if err != nil || n != 1 {
		t.Fatalf("ExportUsers = %d, %v", n, err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["id"] != "f47ac10b-58cc-4372-a567-0e02b2c3d479" || got["createdAt"] != "2021-03-04T05:06:07Z" || got["lastLoginAt"] == nil {
		t.Errorf("exported %v", got)
	}
	if created, err := svc.CreateAdmin(ctx, "root@example.com", pw); err != nil || !created {
		t.Fatalf("CreateAdmin = %v, %v", created, err)
	}
	if created, err := svc.CreateAdmin(ctx, "root@example.com", pw); err != nil || created {
		t.Fatalf("CreateAdmin again = %v, %v", created, err)
	}
	if _, _, err := svc.Register(ctx, "plain@example.com", "plain", pw, "", usermgmt.Client{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateAdmin(ctx, "plain@example.com", pw); !usermgmt.IsConflict(err) {
		t.Fatalf("CreateAdmin of an ordinary account's address: %v", err)
	}
	rep, err := svc.VerifyAudit(ctx)
	if err != nil || rep.Broken != nil || rep.Checked < 4 || rep.HeadSeq != rep.Checked || len(rep.HeadHash) != 64 {
		t.Fatalf("VerifyAudit = %+v, %v", rep, err)
	}
	if _, err := svc.Prune(ctx, nil); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if err := svc.SeedUsers(ctx, 10, nil); err == nil {
		t.Error("SeedUsers seeded the in-memory store")
	}
}
