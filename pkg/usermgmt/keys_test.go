package usermgmt_test

import (
	"bytes"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/uptrace/bun/driver/pgdriver"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/adapters/sqlstore/sqlstoretest"
	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

const testEncryptionKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// backend is a configuration of the service on one database, and a raw
// connection to that database for reading what it stores.
type backend struct {
	cfg usermgmt.Config
	raw func(t *testing.T) *sql.DB
}

// backends runs fn on SQLite and on a fresh Postgres database.
func backends(t *testing.T, fn func(t *testing.T, b backend)) {
	open := func(t *testing.T, driver string, db *sql.DB, err error) *sql.DB {
		t.Helper()
		if err != nil {
			t.Fatalf("open %s: %v", driver, err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	t.Run("sqlite", func(t *testing.T) {
		cfg := usermgmt.DefaultConfig()
		cfg.DataDir, cfg.EncryptionKey = t.TempDir(), testEncryptionKey
		fn(t, backend{cfg: cfg, raw: func(t *testing.T) *sql.DB {
			db, err := sql.Open(sqliteshim.ShimName, filepath.Join(cfg.DataDir, "usermgmt.db"))
			return open(t, "sqlite", db, err)
		}})
	})
	t.Run("postgres", func(t *testing.T) {
		cfg := usermgmt.DefaultConfig()
		cfg.DataDir, cfg.EncryptionKey = t.TempDir(), testEncryptionKey
		cfg.DatabaseURL, cfg.AutoMigrate = sqlstoretest.PostgresURL(t), true
		fn(t, backend{cfg: cfg, raw: func(*testing.T) *sql.DB {
			return open(t, "postgres", sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(cfg.DatabaseURL))), nil)
		}})
	})
}

func (b backend) start(t *testing.T) *usermgmt.Service {
	t.Helper()
	svc, err := usermgmt.New(t.Context(), b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// storedKey returns the one stored signing key's row as it is on disk.
func (b backend) storedKey(t *testing.T) (kid string, stored []byte) {
	t.Helper()
	rows, err := b.raw(t).QueryContext(t.Context(), "SELECT kid, seed FROM signing_keys")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		if err := rows.Scan(&kid, &stored); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if err := rows.Err(); err != nil || n != 1 {
		t.Fatalf("%d signing keys stored (%v), want 1", n, err)
	}
	return kid, stored
}

// TestSigningKeys_SealedAtRest_SE12: what SQLite and Postgres hold of a
// signing key is its seed sealed with USERMGMT_ENCRYPTION_KEY for its kid,
// never the seed; and a row an older release wrote in clear is sealed when
// the service starts, with the tokens it signed still verifying.
func TestSigningKeys_SealedAtRest_SE12(t *testing.T) {
	box := testBox(t)
	backends(t, func(t *testing.T, b backend) {
		svc := b.start(t)
		_, tok, err := svc.Register(t.Context(), "ada@example.com", "ada", pw, "", usermgmt.Client{IP: "192.0.2.1"})
		if err != nil {
			t.Fatal(err)
		}
		var jwks struct{ Keys []struct{ Kid, X string } }
		if err := json.Unmarshal(svc.JWKS(), &jwks); err != nil || len(jwks.Keys) != 1 {
			t.Fatalf("JWKS: %v", err)
		}
		_ = svc.Close()

		kid, stored := b.storedKey(t)
		seed, err := box.Open(stored, []byte("signing-key:"+kid))
		if err != nil || len(seed) != ed25519.SeedSize {
			t.Fatalf("the stored key (%d bytes) is not a seed sealed for its kid: %v", len(stored), err)
		}
		if bytes.Contains(stored, seed) {
			t.Fatal("the seed is stored in clear")
		}
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		if kid != jwks.Keys[0].Kid || base64.RawURLEncoding.EncodeToString(pub) != jwks.Keys[0].X {
			t.Fatal("the sealed seed is not the key the service publishes")
		}
		if _, err := box.Open(stored, []byte("signing-key:another-kid")); err == nil {
			t.Fatal("the sealed seed opens for another kid")
		}

		// An older release's row: the seed in clear.
		res, err := b.raw(t).ExecContext(t.Context(), "UPDATE signing_keys SET seed = $1 WHERE kid = $2", seed, kid)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			t.Fatalf("write the clear seed: %d rows, %v", n, err)
		}
		svc = b.start(t)
		defer svc.Close()
		if _, err := svc.Verify(t.Context(), tok.AccessToken); err != nil {
			t.Fatalf("a token signed before the upgrade: %v", err)
		}
		if _, resealed := b.storedKey(t); bytes.Contains(resealed, seed) {
			t.Fatal("the clear seed was not sealed at start")
		}
	})
}

func testBox(t *testing.T) *crypto.SecretBox {
	t.Helper()
	keys, err := crypto.ParseEncryptionKeys(testEncryptionKey)
	if err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewSecretBox(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// TestEndAllSessions_ForgedTokensDie_SE12: with a seed stolen from the
// database (and the encryption key), a forged token naming an invented
// session passes every check, as no revocation knows its sid. Ending every
// session retires the key at once, and the forgery with it.
func TestEndAllSessions_ForgedTokensDie_SE12(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		b.cfg.AdminEmail, b.cfg.AdminPassword = "root@example.com", pw
		svc := b.start(t)
		defer svc.Close()
		admin, tok, err := svc.Login(t.Context(), "root@example.com", pw, usermgmt.Client{IP: "192.0.2.1"})
		if err != nil {
			t.Fatal(err)
		}
		// What a thief of the database and the encryption key holds (a
		// release that stored seeds in clear needed no key).
		kid, seed := b.storedKey(t)
		if len(seed) != ed25519.SeedSize {
			if seed, err = testBox(t).Open(seed, []byte("signing-key:"+kid)); err != nil {
				t.Fatal(err)
			}
		}
		// The forgery copies iss and aud from a genuine token.
		var genuine jwt.MapClaims
		if _, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, &genuine); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		forged := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
			"iss": genuine["iss"], "aud": genuine["aud"], "sub": admin.ID, "sid": "an-invented-session", "roles": []string{"admin"},
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		})
		forged.Header["typ"], forged.Header["kid"] = "at+jwt", kid
		raw, err := forged.SignedString(ed25519.NewKeyFromSeed(seed))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Verify(t.Context(), raw); err != nil {
			t.Fatalf("the forgery does not pass before (the test proves nothing): %v", err)
		}

		req := httptest.NewRequestWithContext(t.Context(), http.MethodDelete, "/v1/admin/sessions", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		res := httptest.NewRecorder()
		svc.Handler().ServeHTTP(res, req)
		if res.Code != http.StatusOK {
			t.Fatalf("end every session: %d %s", res.Code, res.Body)
		}
		if _, err := svc.Verify(t.Context(), raw); !usermgmt.IsUnauthenticated(err) {
			t.Fatalf("the forged token after every session ended: %v, want unauthenticated", err)
		}
		_, next, err := svc.Login(t.Context(), "root@example.com", pw, usermgmt.Client{IP: "192.0.2.1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Verify(t.Context(), next.AccessToken); err != nil {
			t.Fatalf("a token signed after the rotation: %v", err)
		}
	})
}

// TestDataDirIsTheOwners_SE12: an existing data directory that others can
// read is taken back to its owner, like the files in it.
func TestDataDirIsTheOwners_SE12(t *testing.T) {
	cfg := usermgmt.DefaultConfig()
	cfg.DataDir, cfg.EncryptionKey = filepath.Join(t.TempDir(), "data"), testEncryptionKey
	if err := os.Mkdir(cfg.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg.DataDir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	svc, err := usermgmt.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	fi, err := os.Stat(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Fatalf("data directory mode %o, want 700", perm)
	}
}
