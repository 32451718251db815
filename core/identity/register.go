package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// RegisterInput is a self-service registration.
type RegisterInput struct {
	Email, Username, Password, DisplayName string
	Client                                 session.Client
}

// Register creates an account with a password and signs it in.
func (s *Accounts) Register(ctx context.Context, in RegisterInput) (Auth, error) {
	in.Client = in.Client.Normalized()
	if err := s.d.Throttle.take(ctx, "register:ip:"+ipBudgetKey(in.Client.IP), s.d.Throttle.limits.RegisterPerIP, time.Hour); err != nil {
		return Auth{}, err
	}
	now := s.d.Clock.Now()
	var v errs.Validation
	u, err := user.New(user.ID(s.d.IDs.NewID()), in.Email, in.Username, in.DisplayName, now)
	if err := v.Merge(err); err != nil {
		return Auth{}, err
	}
	if err := v.CheckInvalid("password", s.d.Credentials.checkPolicy(ctx, in.Password, in.Email, in.Username)); err != nil {
		return Auth{}, err
	}
	if err := v.Err(); err != nil {
		return Auth{}, err
	}
	// Registration mails the address, so it spends the address's mail
	// budget like a resend does: nobody floods a mailbox through it (LG-09).
	if err := s.d.Mail.spend(ctx, u.Email()); err != nil {
		return Auth{}, err
	}
	// A cheap look-up first spares an argon2 hash for an obvious duplicate;
	// the unique indexes behind Create still decide concurrent races.
	// Usernames are public, so a taken one may be said; an address is not.
	if _, err := s.d.Users.ByUsername(ctx, u.Username()); err == nil {
		return Auth{}, user.ErrUsernameTaken
	}
	if owner, err := s.d.Users.ByEmail(ctx, u.Email()); err == nil {
		return s.registeredAgain(ctx, owner, u, in)
	}
	hash, err := s.d.Credentials.hash(ctx, in.Password)
	if err != nil {
		return Auth{}, fmt.Errorf("register: %w", err)
	}
	sess, refresh := s.d.Issuer.open(u.ID(), in.Client, []string{token.MethodPassword}, now)
	err = s.d.Ledger.commit(ctx, func(ctx context.Context) error {
		if err := s.d.Users.Create(ctx, u); err != nil {
			return err
		}
		if err := s.d.Credentials.store(ctx, u.ID(), hash, now); err != nil {
			return err
		}
		if !s.cfg.RequireVerifiedEmail {
			if err := s.d.Sessions.Create(ctx, sess); err != nil {
				return err
			}
		}
		return s.d.Ledger.record(ctx, u.ID(), now, event.UserCreated{
			UserID: string(u.ID()), Email: u.Email(), Username: u.Username(), Role: u.Role(),
			RegistrationMethod: event.MethodEmail, Metadata: map[string]string{"userAgent": in.Client.UserAgent},
		})
	})
	if errors.Is(err, user.ErrEmailTaken) && s.cfg.RequireVerifiedEmail {
		return Auth{User: u}, nil // a concurrent registration took it: answer as below
	}
	if err != nil {
		return Auth{}, fmt.Errorf("register: %w", err)
	}
	// The account exists whatever the mail does; a failed send is retried
	// by the user through resend.
	if err := s.d.Mail.sendVerification(ctx, u); err != nil {
		s.log.WarnContext(ctx, "verification mail not sent", "user", u.ID(), "err", err)
	}
	if s.cfg.RequireVerifiedEmail {
		return Auth{User: u}, nil
	}
	return s.d.Issuer.auth(ctx, u, sess, refresh, now)
}

// registeredAgain answers a registration of an address that has an account.
// Without email verification the answer says so (user.email_taken): the
// registrant could sign in right away otherwise. With it, the answer is the
// one a new address gets, a user that must confirm its address, after the
// same argon2 work, and the address's owner is told instead (LG-09): the
// registrant learns nothing of who has an account.
func (s *Accounts) registeredAgain(ctx context.Context, owner, unsaved user.User, in RegisterInput) (Auth, error) {
	if !s.cfg.RequireVerifiedEmail {
		return Auth{}, user.ErrEmailTaken
	}
	if _, err := s.d.Credentials.hash(ctx, in.Password); err != nil {
		return Auth{}, fmt.Errorf("register: %w", err)
	}
	s.d.Mail.notify(ctx, owner, ports.SecurityNotice{Kind: ports.NoticeRegistrationAttempt, At: s.d.Clock.Now(),
		IP: in.Client.IP, UserAgent: in.Client.UserAgent})
	return Auth{User: unsaved}, nil
}

// ErrBootstrapNotAdmin reports that the address named for the first
// administrator belongs to an account that is not one. It is left as it
// is: promoting an account because a variable names it would hand anyone
// who registered that address first the keys (the operator must see this).
var ErrBootstrapNotAdmin = errs.New(errs.Conflict, "admin.bootstrap_not_admin",
	"the first administrator's address belongs to an account that is not an administrator")

// EnsureAdmin creates the first administrator, a superadmin, with email
// and password when no account has that email, and reports whether it did. The password must pass
// the same policy as any other (PW-06: no default accounts).
func (s *Accounts) EnsureAdmin(ctx context.Context, email, password string) (bool, error) {
	if u, err := s.d.Users.ByEmail(ctx, email); err == nil {
		if !u.HasRole(role.SuperAdmin) && !u.HasRole(role.Admin) {
			return false, ErrBootstrapNotAdmin
		}
		return false, nil
	} else if !errors.Is(err, user.ErrNotFound) {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	now := s.d.Clock.Now()
	username, err := s.freeUsername(ctx, email)
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	u, err := user.New(user.ID(s.d.IDs.NewID()), email, username, "Administrator", now)
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	if err := u.GrantRole(role.SuperAdmin, now); err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	u.MarkEmailVerified(now)
	if err := s.d.Credentials.checkPolicy(ctx, password, u.Email(), u.Username()); err != nil {
		return false, fmt.Errorf("bootstrap admin: password %w", err)
	}
	hash, err := s.d.Credentials.hash(ctx, password)
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	err = s.d.Ledger.commit(ctx, func(ctx context.Context) error {
		if err := s.d.Users.Create(ctx, u); err != nil {
			return err
		}
		if err := s.d.Credentials.store(ctx, u.ID(), hash, now); err != nil {
			return err
		}
		return s.d.Ledger.record(ctx, u.ID(), now, event.UserCreated{
			UserID: string(u.ID()), Email: u.Email(), Username: u.Username(), Role: u.Role(),
			RegistrationMethod: event.MethodEmail, Metadata: map[string]string{"createdBy": "bootstrap"},
		})
	})
	if errors.Is(err, user.ErrEmailTaken) {
		return false, nil // another instance bootstrapped it first
	}
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	return true, nil
}

// freeUsername derives a username from the email's local part ("admin" when
// nothing usable is left) and appends a number while it is taken.
func (s *Accounts) freeUsername(ctx context.Context, email string) (string, error) {
	base := user.UsernameFrom(email)
	for i := 0; i < 100; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s%d", base, i)
		}
		_, err := s.d.Users.ByUsername(ctx, name)
		if errors.Is(err, user.ErrNotFound) {
			return name, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", errors.New("no free username")
}
