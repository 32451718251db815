package usermgmt

import (
	"crypto/sha256"
	"fmt"
	"log/slog"

	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/adapters/httpapi"
	"github.com/usermgmt/usermgmt/core/admin"
	"github.com/usermgmt/usermgmt/core/auditlog"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/ports"
)

// auditKey keys the audit chain: USERMGMT_AUDIT_KEY, else a key derived
// from the encryption key, which the database never holds.
func auditKey(cfg Config, encryptionKey []byte) ([]byte, error) {
	if cfg.AuditKey != "" {
		keys, err := crypto.ParseEncryptionKeys(cfg.AuditKey)
		if err != nil || len(keys) != 1 {
			return nil, fmt.Errorf("USERMGMT_AUDIT_KEY: must be one key of 32 bytes in base64 or hex")
		}
		return keys[0], nil
	}
	k := sha256.Sum256(append([]byte("usermgmt audit chain key\x00"), encryptionKey...))
	return k[:], nil
}

// adminPorts are what the administration use cases drive beyond the stores.
type adminPorts struct {
	stores    stores
	events    ports.Outbox
	revoked   ports.RevokedSessions
	passwords *identity.Passwords
	trail     *auditlog.Log
	auth      *admin.Authorizer
	clock     ports.Clock
	ids       ports.IDs
}

// newAdmin wires the administration use cases over p.
func newAdmin(cfg Config, p adminPorts, log *slog.Logger) (httpapi.AdminUseCases, error) {
	st, auth := p.stores, p.auth
	var uc httpapi.AdminUseCases
	var err error
	if uc.Users, err = admin.NewUsers(admin.UsersDeps{Tx: st.tx, Users: st.users, Directory: st.directory, Sessions: st.sessions,
		Revoked: p.revoked, Outbox: p.events, Clock: p.clock, IDs: p.ids, Auth: auth, Resets: p.passwords},
		cfg.DeletedUserRetention, log); err != nil {
		return httpapi.AdminUseCases{}, err
	}
	if uc.Roles, err = admin.NewRoles(st.tx, st.roles, st.directory, p.clock, auth); err != nil {
		return httpapi.AdminUseCases{}, err
	}
	if uc.Directory, err = admin.NewDirectory(st.directory, st.secrets, auth); err != nil {
		return httpapi.AdminUseCases{}, err
	}
	if uc.Trail, err = admin.NewTrail(p.trail, st.secrets, auth); err != nil {
		return httpapi.AdminUseCases{}, err
	}
	return uc, nil
}
