// Package userfile reads and writes the account files of bulk transfers:
// imports from JSON lines (one object a line, .jsonl) or CSV with a header
// (.csv), and exports as JSON lines. Readers yield core/transfer records
// with the line each starts on; a line that cannot be read becomes a
// record that fails alone, while a file that cannot be read at all (a bad
// CSV header, an I/O error) ends the import.
//
// The fields are email, username, displayName, role, passwordHash,
// createdAt (RFC 3339) and, optionally, id. Exports add status, roles,
// emailVerified, mfaEnabled, updatedAt and lastLoginAt, and leave out the
// password hash.
package userfile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/transfer"
	"github.com/usermgmt/usermgmt/core/user"
)

// The formats.
const (
	JSONLines = "jsonl"
	CSV       = "csv"
)

// MaxLine bounds a line of a JSON lines file: a record is a few hundred
// bytes, so a longer line is refused rather than read into memory.
const MaxLine = 64 << 10

// ErrUnreadable is a line that is not a record; its message says why,
// never what the line holds beyond the names of fields.
var ErrUnreadable = errs.New(errs.Invalid, "import.unreadable", "the line is not a record")

func unreadable(why string) error {
	e := *ErrUnreadable
	e.Msg += ": " + why
	return &e
}

// bom is the UTF-8 byte order mark that spreadsheets put before a CSV.
const bom = "\ufeff"

// NewReader returns the records of r in format (JSONLines or CSV).
func NewReader(r io.Reader, format string) (transfer.Source, error) {
	switch format {
	case JSONLines:
		return &jsonReader{r: bufio.NewReaderSize(r, 1<<16)}, nil
	case CSV:
		return newCSVReader(r)
	}
	return nil, fmt.Errorf("userfile: format %q: want %s or %s", format, JSONLines, CSV)
}

// jsonRecord is an import line of a JSON lines file.
type jsonRecord struct {
	ID           string `json:"id"`
	Email        string `json:"email"`
	Username     string `json:"username"`
	DisplayName  string `json:"displayName"`
	Role         string `json:"role"`
	PasswordHash string `json:"passwordHash"`
	CreatedAt    string `json:"createdAt"`
}

type jsonReader struct {
	r    *bufio.Reader
	line int
}

// Next reads the next line that is not blank.
func (j *jsonReader) Next() (transfer.Record, error) {
	for {
		b, err := j.readLine()
		if err != nil {
			return transfer.Record{}, err
		}
		j.line++
		if j.line == 1 {
			b = bytes.TrimPrefix(b, []byte(bom))
		}
		if b == nil {
			return transfer.Record{Line: j.line, Err: unreadable(fmt.Sprintf("longer than %d bytes", MaxLine))}, nil
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		return parseJSON(j.line, b), nil
	}
}

// readLine returns the next line without its end, nil for a line over
// MaxLine (whose rest it skips), or io.EOF.
func (j *jsonReader) readLine() ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		part, err := j.r.ReadSlice('\n')
		if !tooLong {
			line = append(line, part...)
			if len(line) > MaxLine+2 {
				tooLong, line = true, nil
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(part) == 0 && line == nil && !tooLong:
			return nil, io.EOF
		case err != nil && !errors.Is(err, io.EOF):
			return nil, fmt.Errorf("userfile: read: %w", err)
		}
		if tooLong {
			return nil, nil
		}
		return bytes.TrimRight(line, "\r\n"), nil
	}
}

func parseJSON(line int, b []byte) transfer.Record {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var jr jsonRecord
	if err := dec.Decode(&jr); err != nil {
		return transfer.Record{Line: line, Err: unreadable(jsonReason(err))}
	}
	if dec.More() {
		return transfer.Record{Line: line, Err: unreadable("more than one JSON value on the line")}
	}
	return record(line, jr.ID, jr.Email, jr.Username, jr.DisplayName, jr.Role, jr.PasswordHash, jr.CreatedAt)
}

// jsonReason says what is wrong with a line in terms of its fields, so no
// value (a hash, say) is repeated.
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("%s must be a string", te.Field)
	case errors.As(err, &se):
		return fmt.Sprintf("not a JSON object (a syntax error at byte %d)", se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "not a JSON object"
}

// record makes a record of the fields of a line.
func record(line int, id, email, username, displayName, role, hash, createdAt string) transfer.Record {
	r := transfer.Record{Line: line, ID: strings.TrimSpace(id), Email: email, Username: username, DisplayName: displayName,
		Role: strings.TrimSpace(role), PasswordHash: strings.TrimSpace(hash)}
	if c := strings.TrimSpace(createdAt); c != "" {
		t, err := time.Parse(time.RFC3339, c)
		if err != nil {
			r.Err = errs.ErrValidation.WithFields(errs.FieldError{Field: "createdAt", Message: user.ErrInvalidCreatedAt.Msg})
			return r
		}
		r.CreatedAt = t
	}
	return r
}

// columns are the CSV header names, as the JSON fields are named.
var columns = []string{"id", "email", "username", "displayName", "role", "passwordHash", "createdAt"}

// required are the columns a CSV file must have.
var required = []string{"email", "username", "passwordHash", "createdAt"}

type csvReader struct {
	r   *csv.Reader
	col []int // the field of each column, an index into columns
}

// newCSVReader reads the header: the columns' names, in any order and
// case; a header it does not understand ends the import before it starts.
func newCSVReader(r io.Reader) (*csvReader, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1 // a line with too few or too many fields fails alone
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("userfile: the CSV file is empty: it needs a header")
	}
	if err != nil {
		return nil, fmt.Errorf("userfile: CSV header: %w", err)
	}
	c := &csvReader{r: cr, col: make([]int, len(head))}
	seen := map[int]bool{}
	for i, name := range head {
		if i == 0 {
			name = strings.TrimPrefix(name, bom)
		}
		k := slices.IndexFunc(columns, func(c string) bool { return strings.EqualFold(c, strings.TrimSpace(name)) })
		switch {
		case k < 0:
			return nil, fmt.Errorf("userfile: CSV header: unknown column %q (the columns are %s)", name, strings.Join(columns, ", "))
		case seen[k]:
			return nil, fmt.Errorf("userfile: CSV header: column %q twice", columns[k])
		}
		seen[k], c.col[i] = true, k
	}
	for _, name := range required {
		if !seen[slices.Index(columns, name)] {
			return nil, fmt.Errorf("userfile: CSV header: no column %q", name)
		}
	}
	return c, nil
}

// Next reads the next record; encoding/csv skips blank lines.
func (c *csvReader) Next() (transfer.Record, error) {
	fields, err := c.r.Read()
	var pe *csv.ParseError
	switch {
	case errors.Is(err, io.EOF):
		return transfer.Record{}, io.EOF
	case errors.As(err, &pe):
		return transfer.Record{Line: pe.StartLine, Err: unreadable(pe.Err.Error())}, nil
	case err != nil:
		return transfer.Record{}, fmt.Errorf("userfile: read: %w", err)
	}
	line, _ := c.r.FieldPos(0)
	if len(fields) != len(c.col) {
		return transfer.Record{Line: line, Err: unreadable(fmt.Sprintf("%d fields, the header has %d", len(fields), len(c.col)))}, nil
	}
	v := make([]string, len(columns))
	for i, f := range fields {
		v[c.col[i]] = f
	}
	return record(line, v[0], v[1], v[2], v[3], v[4], v[5], v[6]), nil
}

// Exported is an account as an export writes it.
type Exported struct {
	ID            string     `json:"id"`
	Email         string     `json:"email"`
	Username      string     `json:"username"`
	DisplayName   string     `json:"displayName"`
	Role          string     `json:"role"`
	Roles         []string   `json:"roles"`
	Status        string     `json:"status"`
	EmailVerified bool       `json:"emailVerified"`
	MFAEnabled    bool       `json:"mfaEnabled"`
	CreatedAt     time.Time  `json:"createdAt"`
	UpdatedAt     time.Time  `json:"updatedAt"`
	LastLoginAt   *time.Time `json:"lastLoginAt"` // null: never signed in
}

// Exporting returns what an export writes of l.
func Exporting(l user.Listed) Exported {
	e := Exported{ID: string(l.ID()), Email: l.Email(), Username: l.Username(), DisplayName: l.DisplayName(),
		Role: l.Role(), Roles: l.Roles(), Status: l.Status().String(), EmailVerified: l.EmailVerified(),
		MFAEnabled: l.MFAEnabled(), CreatedAt: l.CreatedAt(), UpdatedAt: l.UpdatedAt()}
	if !l.LastLoginAt.IsZero() {
		t := l.LastLoginAt
		e.LastLoginAt = &t
	}
	return e
}

// Writer writes accounts as JSON lines, buffered: Flush at the end.
type Writer struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{w: bw, enc: enc}
}

// Write writes one account, one line.
func (w *Writer) Write(l user.Listed) error {
	if err := w.enc.Encode(Exporting(l)); err != nil {
		return fmt.Errorf("userfile: write: %w", err)
	}
	return nil
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("userfile: write: %w", err)
	}
	return nil
}
