package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/usermgmt/usermgmt/apps/internal/progress"
	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

// adminPasswordVar is where create-admin takes its password from.
const adminPasswordVar = "USERMGMT_ADMIN_PASSWORD" //nolint:gosec // the variable's name, not a password

// withoutAdminVars hides the bootstrap administrator from the
// configuration; create-admin reads the password itself.
func withoutAdminVars(getenv func(string) string) func(string) string {
	return func(k string) string {
		if k == "USERMGMT_ADMIN_EMAIL" || k == adminPasswordVar {
			return ""
		}
		return getenv(k)
	}
}

func parseCreateAdmin(c command, args []string) (job, error) {
	pos, err := positional(c, flags(c.name), args, 1)
	if err != nil {
		return nil, err
	}
	email := pos[0]
	return func(ctx context.Context, e env) error {
		password := e.getenv(adminPasswordVar)
		if password == "" {
			var err error
			if password, err = readPassword(e.con, email); err != nil {
				return err
			}
		}
		return withService(ctx, e, func(svc *usermgmt.Service) error {
			created, err := svc.CreateAdmin(ctx, email, password)
			switch {
			case usermgmt.IsConflict(err):
				return fmt.Errorf("%s belongs to an account that is not an administrator; it was left as it is", email)
			case err != nil:
				return err
			case created:
				fmt.Fprintf(e.con.out, "created the superadmin %s\n", email)
			default:
				fmt.Fprintf(e.con.out, "an administrator %s exists already; nothing changed\n", email)
			}
			return nil
		})
	}, nil
}

// readPassword reads the new administrator's password from standard
// input: twice and unechoed on a terminal, else its first line.
func readPassword(con console, email string) (string, error) {
	if f, ok := con.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) { //nolint:gosec // a descriptor fits an int
		fmt.Fprintf(con.err, "password for %s: ", email)
		first, err := term.ReadPassword(int(f.Fd())) //nolint:gosec // as above
		fmt.Fprintln(con.err)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		fmt.Fprint(con.err, "again: ")
		again, err := term.ReadPassword(int(f.Fd())) //nolint:gosec // as above
		fmt.Fprintln(con.err)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		if !bytes.Equal(first, again) {
			return "", errors.New("the passwords differ")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(con.in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password: %w", err)
	}
	if line = strings.TrimRight(line, "\r\n"); line == "" {
		return "", fmt.Errorf("no password: set %s or write it to standard input", adminPasswordVar)
	}
	return line, nil
}

func parseImport(c command, args []string) (job, error) {
	fs := flags(c.name)
	dryRun := fs.Bool("dry-run", false, "report what would change; write nothing")
	format := fs.String("format", "", "jsonl or csv (default: by the file's extension)")
	pos, err := positional(c, fs, args, 1)
	if err != nil {
		return nil, err
	}
	file := pos[0]
	if *format == "" {
		*format = formatOf(file)
	}
	if *format != usermgmt.FormatJSONLines && *format != usermgmt.FormatCSV {
		return nil, fmt.Errorf("users import %s: say --format jsonl or --format csv; %w", file, usage(c))
	}
	return func(ctx context.Context, e env) error { return importUsers(ctx, e, file, *format, *dryRun) }, nil
}

// formatOf is the import format a file's extension names, or "".
func formatOf(file string) string {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".jsonl", ".ndjson":
		return usermgmt.FormatJSONLines
	case ".csv":
		return usermgmt.FormatCSV
	}
	return ""
}

func importUsers(ctx context.Context, e env, file, format string, dryRun bool) error {
	in, total, err := openImport(file, format, e.con.in)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	return withService(ctx, e, func(svc *usermgmt.Service) error {
		label := "import"
		if dryRun {
			label = "import (dry run)"
		}
		bar := progress.New(e.con.err, label, "records", total)
		var n int64
		sum, err := svc.ImportUsers(ctx, in, usermgmt.ImportOptions{Format: format, DryRun: dryRun,
			OnResult: func(r usermgmt.ImportResult) {
				if r.Status == usermgmt.ImportFailed {
					bar.Println(fmt.Sprintf("line %d: %s", r.Line, r.Reason))
				}
				n++
				bar.Set(n)
			}})
		bar.Done()
		verb := "created"
		if dryRun {
			verb = "would be created (dry run: nothing was written)"
		}
		fmt.Fprintf(e.con.out, "import %s: %s %s, %s unchanged, %s failed\n", file, progress.Count(int64(sum.Created)), verb,
			progress.Count(int64(sum.Unchanged)), progress.Count(int64(sum.Failed)))
		switch {
		case err != nil:
			return fmt.Errorf("%w (what was imported stays: run the same command again to resume)", err)
		case sum.Failed > 0:
			return fmt.Errorf("%d records failed (see the lines above); the others are in", sum.Failed)
		}
		return nil
	})
}

// openImport opens an import file, or standard input for "-", and counts
// its lines for the progress bar (0, unknown, for standard input).
func openImport(file, format string, stdin io.Reader) (io.ReadCloser, int64, error) {
	if file == "-" {
		return io.NopCloser(stdin), 0, nil
	}
	f, err := os.Open(file) //nolint:gosec // the operator names the file
	if err != nil {
		return nil, 0, err
	}
	lines, err := countLines(f)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("read %s: %w", file, err)
	}
	if format == usermgmt.FormatCSV && lines > 0 {
		lines-- // the header
	}
	return f, lines, nil
}

// countLines counts the lines of r: the records of an import, but for
// blank lines and CSV fields that span lines, which the bar can live with.
func countLines(r io.Reader) (int64, error) {
	buf := make([]byte, 1<<16)
	var n int64
	last := byte('\n')
	for {
		k, err := r.Read(buf)
		if chunk := buf[:k]; len(chunk) > 0 {
			n += int64(bytes.Count(chunk, []byte{'\n'}))
			last = chunk[len(chunk)-1]
		}
		if errors.Is(err, io.EOF) {
			if last != '\n' {
				n++
			}
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

func parseExport(c command, args []string) (job, error) {
	pos, err := parse(flags(c.name), args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, err
	}
	if err != nil || len(pos) > 1 {
		return nil, usage(c)
	}
	file := "-"
	if len(pos) == 1 {
		file = pos[0]
	}
	return func(ctx context.Context, e env) error { return exportUsers(ctx, e, file) }, nil
}

// exportUsers writes to a file beside FILE and renames it when the export
// is complete, so an export that fails never leaves half a file that looks
// whole. The file holds personal data: only its owner reads it.
func exportUsers(ctx context.Context, e env, file string) error {
	return withService(ctx, e, func(svc *usermgmt.Service) error {
		w, commit := e.con.out, func() error { return nil }
		if file != "-" {
			f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
			if err != nil {
				return err
			}
			defer func() { _ = os.Remove(f.Name()) }() //nolint:gosec // beside the operator's file; after a rename: gone already
			defer func() { _ = f.Close() }()
			w, commit = f, func() error {
				if err := f.Close(); err != nil {
					return err
				}
				return os.Rename(f.Name(), file) //nolint:gosec // the operator names the file
			}
		}
		bar := progress.New(e.con.err, "export", "users", 0)
		n, err := svc.ExportUsers(ctx, w, func(n int) { bar.Set(int64(n)) })
		bar.Done()
		if err == nil {
			err = commit()
		}
		if err != nil {
			return err
		}
		if file != "-" {
			fmt.Fprintf(e.con.out, "export: %s accounts written to %s\n", progress.Count(int64(n)), file)
		}
		return nil
	})
}

func auditVerify(ctx context.Context, e env) error {
	return withService(ctx, e, func(svc *usermgmt.Service) error {
		rep, err := svc.VerifyAudit(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.con.out, "audit chain: %s records checked, from record %d to the head at record %d (hash %s)\n",
			progress.Count(rep.Checked), rep.FromSeq, rep.HeadSeq, rep.HeadHash)
		if b := rep.Broken; b != nil {
			fmt.Fprintf(e.con.out, "broken at record %d: %s: %s\n", b.Seq, b.Reason, b.Detail)
			return fmt.Errorf("the audit chain is broken at record %d (%s)", b.Seq, b.Reason)
		}
		fmt.Fprintln(e.con.out, "intact")
		return nil
	})
}

func prune(ctx context.Context, e env) error {
	return withService(ctx, e, func(svc *usermgmt.Service) error {
		var bar *progress.Bar
		rep, err := svc.Prune(ctx, func(part string, n int) {
			if part != usermgmt.PruneUsers || n == 0 {
				return
			}
			if bar == nil {
				bar = progress.New(e.con.err, "erase", "accounts", 0)
			}
			bar.Set(int64(n))
		})
		if bar != nil {
			bar.Done()
		}
		fmt.Fprintf(e.con.out, "prune: %s expired sessions ended, %s published events deleted, %s deleted accounts erased, %s audit entries deleted\n",
			progress.Count(int64(rep.Sessions)), progress.Count(int64(rep.Outbox)), progress.Count(int64(rep.Users)), progress.Count(int64(rep.Audit)))
		return err
	})
}
