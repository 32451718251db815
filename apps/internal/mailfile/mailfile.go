// Package mailfile reads the mail the embedded default writes into its data
// directory (DATA_DIR/mail/*.eml), for the end-to-end tests and the bench,
// which follow mailed links as a person would.
package mailfile

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Find waits up to wait for a message in dataDir with subject, addressed
// to to (any recipient when to is empty), whose text part matches link,
// and returns the match of the newest such message.
func Find(dataDir, to, subject string, link *regexp.Regexp, wait time.Duration) (string, bool) {
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		files, _ := filepath.Glob(filepath.Join(dataDir, "mail", "*.eml"))
		for i := len(files) - 1; i >= 0; i-- { // names sort by time: newest last
			if found, ok := match(files[i], to, subject, link); ok {
				return found, true
			}
		}
		if time.Now().After(deadline) {
			return "", false
		}
	}
}

func match(name, to, subject string, link *regexp.Regexp) (string, bool) {
	raw, err := os.ReadFile(name) //nolint:gosec // name comes from a glob of the data directory the caller started the server with
	if err != nil {
		return "", false
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil || m.Header.Get("Subject") != subject || m.Header.Get("To") == "" ||
		to != "" && !strings.Contains(m.Header.Get("To"), to) {
		return "", false
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return "", false
	}
	part, err := multipart.NewReader(m.Body, params["boundary"]).NextPart() // decodes quoted-printable
	if err != nil {
		return "", false
	}
	text, _ := io.ReadAll(part)
	found := link.FindString(string(text))
	return found, found != ""
}
