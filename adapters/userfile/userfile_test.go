package userfile_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/userfile"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/transfer"
	"github.com/usermgmt/usermgmt/core/user"
)

func readAll(t *testing.T, src transfer.Source) []transfer.Record {
	t.Helper()
	var out []transfer.Record
	for {
		r, err := src.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, r)
	}
}

const hash = "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"

var created = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

func TestJSONLines(t *testing.T) {
	in := "\ufeff" + `{"id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","email":"ada@example.com","username":"ada","displayName":"Ada","role":"admin","passwordHash":"` + hash + `","createdAt":"2021-03-04T06:06:07+01:00"}` + "\r\n" +
		"\n" +
		`{"email":"bob@example.com","username":"bob","passwordHash":"x","createdAt":"2021-03-04T05:06:07.123456Z"}` + "\n" +
		`{"email":"eve@example.com","extra":1}` + "\n" +
		`{"email":42}` + "\n" +
		`not json at all` + "\n" +
		`{"email":"a@example.com"} {"email":"b@example.com"}` + "\n" +
		`{"email":"c@example.com","createdAt":"yesterday"}` + "\n" +
		strings.Repeat("x", userfile.MaxLine+10) + "\n" +
		`[]` + "\n" +
		`{"email":"last@example.com","username":"last","passwordHash":"h","createdAt":"2021-03-04T05:06:07Z"}` // no newline at the end
	src, err := userfile.NewReader(strings.NewReader(in), userfile.JSONLines)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, src)
	wantLines := []int{1, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	if len(got) != len(wantLines) {
		t.Fatalf("%d records, want %d: %+v", len(got), len(wantLines), got)
	}
	for i, r := range got {
		if r.Line != wantLines[i] {
			t.Errorf("record %d is of line %d, want %d", i, r.Line, wantLines[i])
		}
	}
	ada := got[0]
	if ada.Err != nil || ada.ID != "f47ac10b-58cc-4372-a567-0e02b2c3d479" || ada.Email != "ada@example.com" || ada.Username != "ada" ||
		ada.DisplayName != "Ada" || ada.Role != "admin" || ada.PasswordHash != hash || !ada.CreatedAt.Equal(created) {
		t.Errorf("line 1: %+v", ada)
	}
	if !got[1].CreatedAt.Equal(created.Add(123456*time.Microsecond)) || got[1].Err != nil {
		t.Errorf("line 3: %+v", got[1])
	}
	for i, want := range map[int]string{2: `unknown field "extra"`, 3: "email must be a string", 4: "syntax error", 5: "more than one JSON value",
		7: "longer than", 8: "not a JSON object"} {
		if !errors.Is(got[i].Err, userfile.ErrUnreadable) || !strings.Contains(got[i].Err.Error(), want) {
			t.Errorf("line %d: %v, want %q", got[i].Line, got[i].Err, want)
		}
	}
	var e *errs.Error
	if !errors.As(got[6].Err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != "createdAt" {
		t.Errorf("line 8: %v, want an invalid createdAt", got[6].Err)
	}
	if got[9].Email != "last@example.com" || got[9].Err != nil {
		t.Errorf("the last line: %+v", got[9])
	}
}

func TestCSV(t *testing.T) {
	in := "\ufeffEmail,username,passwordHash,createdAt,ID,displayName,role\r\n" +
		"ada@example.com,ada," + hash + ",2021-03-04T05:06:07Z,f47ac10b-58cc-4372-a567-0e02b2c3d479,\"Lovelace, Ada\",admin\r\n" +
		"\r\n" +
		"bob@example.com,bob,h,2021-03-04T05:06:07Z,,,\n" +
		"too,few\n" +
		"eve@example.com,eve,h,2021-03-04T05:06:07Z,,\"bad \"quote,\n" +
		"\"multi\nline@example.com\",multi,h,2021-03-04T05:06:07Z,,,\n" +
		"carl@example.com,carl,h,not a time,,,\n"
	src, err := userfile.NewReader(strings.NewReader(in), userfile.CSV)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, src)
	wantLines := []int{2, 4, 5, 6, 7, 9}
	if len(got) != len(wantLines) {
		t.Fatalf("%d records, want %d: %+v", len(got), len(wantLines), got)
	}
	for i, r := range got {
		if r.Line != wantLines[i] {
			t.Errorf("record %d is of line %d, want %d", i, r.Line, wantLines[i])
		}
	}
	if a := got[0]; a.Err != nil || a.DisplayName != "Lovelace, Ada" || a.ID == "" || a.Role != "admin" || a.PasswordHash != hash || !a.CreatedAt.Equal(created) {
		t.Errorf("line 2: %+v", a)
	}
	if b := got[1]; b.Err != nil || b.ID != "" || b.Role != "" || b.DisplayName != "" {
		t.Errorf("line 4: %+v", b)
	}
	for i, want := range map[int]string{2: "2 fields, the header has 7", 3: "quote"} {
		if !errors.Is(got[i].Err, userfile.ErrUnreadable) || !strings.Contains(got[i].Err.Error(), want) {
			t.Errorf("line %d: %v, want %q", got[i].Line, got[i].Err, want)
		}
	}
	if got[4].Email != "multi\nline@example.com" {
		t.Errorf("line 7: %+v", got[4])
	}
	if got[5].Err == nil {
		t.Errorf("line 9: a bad createdAt was read")
	}

	for name, head := range map[string]string{
		"empty":          "",
		"unknown column": "email,username,passwordHash,createdAt,password\n",
		"twice":          "email,username,passwordHash,createdAt,Email\n",
		"no hash":        "email,username,createdAt\n",
	} {
		if _, err := userfile.NewReader(strings.NewReader(head), userfile.CSV); err == nil {
			t.Errorf("header %s: accepted", name)
		}
	}
	if _, err := userfile.NewReader(strings.NewReader(""), "xml"); err == nil {
		t.Error("format xml: accepted")
	}
}

func TestWriter(t *testing.T) {
	u, err := user.Import("f47ac10b-58cc-4372-a567-0e02b2c3d479", "ada@example.com", "ada", "Ada <3", created, created.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := userfile.NewWriter(&buf)
	login := created.Add(2 * time.Hour)
	if err := w.Write(user.Listed{User: u, LastLoginAt: login}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(user.Listed{User: u}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	want := `{"id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","email":"ada@example.com","username":"ada","displayName":"Ada <3","role":"user","roles":["user"],"status":"active","emailVerified":false,"mfaEnabled":false,"createdAt":"2021-03-04T05:06:07Z","updatedAt":"2021-03-04T06:06:07Z","lastLoginAt":"2021-03-04T07:06:07Z"}`
	if lines[0] != want {
		t.Errorf("line 1:\n%s\nwant\n%s", lines[0], want)
	}
	var e userfile.Exported
	if err := json.Unmarshal([]byte(lines[1]), &e); err != nil || e.LastLoginAt != nil || strings.Contains(lines[1], "passwordHash") {
		t.Errorf("line 2: %s (%v)", lines[1], err)
	}
}
