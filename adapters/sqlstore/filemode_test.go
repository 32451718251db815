package sqlstore_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/usermgmt/usermgmt/adapters/sqlstore"
	"github.com/usermgmt/usermgmt/adapters/sqlstore/sqlstoretest"
)

// TestSQLiteFileMode_SE12: the database holds password hashes and sealed
// secrets, so its file, its WAL and shared-memory files are the owner's
// alone (0600) in a directory only the owner enters (0700), whatever the
// umask; a file left readable by an older release is tightened at open.
func TestSQLiteFileMode_SE12(t *testing.T) {
	mode := func(t *testing.T, path string) fs.FileMode {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	check := func(t *testing.T, path string) {
		t.Helper()
		db, err := sqlstore.Open(t.Context(), sqlstore.Config{SQLitePath: path, Logger: sqlstoretest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// A write makes sure the WAL and shared-memory files exist.
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			if m := mode(t, f); m != 0o600 {
				t.Errorf("%s has mode %v, want 0600", filepath.Base(f), m)
			}
		}
	}

	t.Run("new", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		check(t, filepath.Join(dir, "usermgmt.db"))
		if m := mode(t, dir); m != 0o700 {
			t.Errorf("data directory has mode %v, want 0700", m)
		}
	})
	t.Run("existing, readable by all", func(t *testing.T) {
		path := sqlstoretest.SQLitePath(t)
		db, err := sqlstore.Open(t.Context(), sqlstore.Config{SQLitePath: path})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			// Creates the files a clean close removed, keeps the database.
			fh, err := os.OpenFile(f, os.O_CREATE|os.O_RDWR, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			_ = fh.Close()
			if err := os.Chmod(f, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		check(t, path)
	})
}
