package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/usermgmt/usermgmt/apps/internal/mailfile"
	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

// mfaAccounts is how many accounts the second-step measurement enrols;
// each brings ten backup codes, so this many × 10 answers are timed.
const mfaAccounts = 40

// mfaStep times the second step of a sign-in (POST /v1/auth/login/mfa) on
// its own. Setup (registering, enrolling an authenticator, and one
// password sign-in per answer to open its challenge) is argon2-bound and
// not measured. The answers are backup codes: an account takes one TOTP
// code per 30-second step, and the two paths differ by an HMAC.
func (b *bench) mfaStep(ctx context.Context) (sample, error) {
	t := b.t
	progress(fmt.Sprintf("enrolling %d accounts in TOTP and opening %d sign-in challenges", mfaAccounts, 10*mfaAccounts))
	type answer struct{ token, code string }
	var mu sync.Mutex
	var answers []answer
	s, err := t.drive(ctx, load{workers: cores(), count: mfaAccounts, want: http.StatusOK}, func(ctx context.Context, _, seq int) (int, error) {
		a := t.acc.make("m", int64(seq))
		reg, st, err := t.c.register(ctx, a)
		if err != nil || st != http.StatusCreated {
			return st, err
		}
		// A second factor needs a confirmed address.
		link, err := t.srv.mailedLink(a.email, "Confirm your email address")
		if err != nil {
			return 0, err
		}
		if st, err := t.c.do(ctx, http.MethodPost, "/v1/auth/email/verify", "", map[string]string{"token": link}, http.StatusNoContent, nil); err != nil || st != http.StatusNoContent {
			return st, err
		}
		codes, st, err := t.c.enrolTOTP(ctx, reg.AccessToken, a.password)
		if err != nil || st != http.StatusOK {
			return st, err
		}
		for _, code := range codes {
			tok, st, err := t.c.challenge(ctx, a)
			if err != nil || st != http.StatusOK {
				return st, err
			}
			mu.Lock()
			answers = append(answers, answer{tok, code})
			mu.Unlock()
		}
		return http.StatusOK, nil
	})
	if err != nil {
		return sample{}, err
	}
	if s.ops != mfaAccounts {
		return sample{}, fmt.Errorf("mfa setup: %d of %d accounts (errors %s)\n%s", s.ops, mfaAccounts, s.errorSummary(), t.srv.logTail(10))
	}
	progress(fmt.Sprintf("measuring %d second steps", len(answers)))
	res, err := t.drive(ctx, load{workers: b.opt.workers, count: len(answers), want: http.StatusOK}, func(ctx context.Context, _, seq int) (int, error) {
		return t.c.loginMFA(ctx, answers[seq].token, answers[seq].code)
	})
	if err != nil {
		return sample{}, err
	}
	b.rows = append(b.rows, row{name: "login/mfa (backup code)", workers: b.opt.workers, s: res, note: "the second step alone"})
	return res, nil
}

// enrolTOTP enrols an authenticator for the account of access and returns
// its backup codes.
func (c *client) enrolTOTP(ctx context.Context, access, password string) ([]string, int, error) {
	var setup struct{ Secret string }
	st, err := c.do(ctx, http.MethodPost, "/v1/users/me/mfa/totp", access, map[string]string{"password": password}, http.StatusOK, &setup)
	if err != nil || st != http.StatusOK {
		return nil, st, err
	}
	code, err := usermgmt.TOTPCode(setup.Secret, time.Now())
	if err != nil {
		return nil, 0, err
	}
	var en struct{ BackupCodes []string }
	st, err = c.do(ctx, http.MethodPost, "/v1/users/me/mfa/totp/confirm", access, map[string]string{"code": code}, http.StatusOK, &en)
	return en.BackupCodes, st, err
}

// challenge signs in with the password and returns the challenge token.
func (c *client) challenge(ctx context.Context, a account) (string, int, error) {
	var out struct{ MFAToken string }
	body := map[string]string{"identifier": a.username, "password": a.password}
	st, err := c.do(ctx, http.MethodPost, "/v1/auth/login", "", body, http.StatusOK, &out)
	if err == nil && st == http.StatusOK && out.MFAToken == "" {
		return "", st, fmt.Errorf("login of an enrolled account returned no challenge")
	}
	return out.MFAToken, st, err
}

func (c *client) loginMFA(ctx context.Context, token, code string) (int, error) {
	return c.do(ctx, http.MethodPost, "/v1/auth/login/mfa", "", map[string]string{"mfaToken": token, "code": code}, http.StatusOK, nil)
}

// tokenInLink finds the token of a mailed link, which rides in the fragment.
var tokenInLink = regexp.MustCompile(`#token=[A-Za-z0-9_-]{43}`)

// mailedLink returns the token of the newest message with subject to the
// address to, from the server's mail folder (the embedded default writes
// mail there).
func (s *server) mailedLink(to, subject string) (string, error) {
	link, ok := mailfile.Find(s.dataDir, to, subject, tokenInLink, 10*time.Second)
	if !ok {
		return "", fmt.Errorf("no %q mail to %s in %s", subject, to, s.dataDir)
	}
	return strings.TrimPrefix(link, "#token="), nil
}
