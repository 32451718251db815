package adaptertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
)

// concurrently runs fn n times at once and counts the calls that returned true.
func concurrently(t *testing.T, n int, fn func() (bool, error)) int {
	t.Helper()
	var wins atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			ok, err := fn()
			if err != nil {
				errs <- err
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent call: %v", err)
	}
	return int(wins.Load())
}

// MFAFactors is the contract of ports.MFAFactors.
func MFAFactors(t *testing.T, setup Setup) {
	run(t, setup, "put, list in order, replace and delete factors", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		mustNotFail(t, "Put email", s.Factors.Put(ctx, mfa.Factor{UserID: u.ID(), Method: mfa.MethodEmail, CreatedAt: t0}))
		mustNotFail(t, "Put sms", s.Factors.Put(ctx, mfa.Factor{UserID: u.ID(), Method: mfa.MethodSMS, Phone: "+14155550123", CreatedAt: t0}))
		mustNotFail(t, "Put totp", s.Factors.Put(ctx, mfa.Factor{UserID: u.ID(), Method: mfa.MethodTOTP, Secret: []byte("sealed-1"),
			LastUsedStep: 7, CreatedAt: t0}))
		got, err := s.Factors.Factors(ctx, u.ID())
		mustNotFail(t, "Factors", err)
		if len(got) != 3 || got[0].Method != mfa.MethodTOTP || got[1].Method != mfa.MethodSMS || got[2].Method != mfa.MethodEmail {
			t.Fatalf("Factors = %+v, want totp, sms, email", got)
		}
		if f := got[0]; !bytes.Equal(f.Secret, []byte("sealed-1")) || f.LastUsedStep != 7 || !sameTime(f.CreatedAt, t0) || f.UserID != u.ID() {
			t.Errorf("totp factor = %+v", f)
		}
		if got[1].Phone != "+14155550123" || len(got[2].Secret) != 0 {
			t.Errorf("sms/email factors = %+v", got[1:])
		}
		mustNotFail(t, "replace totp", s.Factors.Put(ctx, mfa.Factor{UserID: u.ID(), Method: mfa.MethodTOTP, Secret: []byte("sealed-2"), CreatedAt: t0.Add(time.Hour)}))
		got, _ = s.Factors.Factors(ctx, u.ID())
		if len(got) != 3 || !bytes.Equal(got[0].Secret, []byte("sealed-2")) || got[0].LastUsedStep != 0 {
			t.Fatalf("after replace: %+v", got)
		}
		if ok, err := s.Factors.Delete(ctx, u.ID(), mfa.MethodSMS); !ok || err != nil {
			t.Fatalf("Delete = %v, %v", ok, err)
		}
		if ok, _ := s.Factors.Delete(ctx, u.ID(), mfa.MethodSMS); ok {
			t.Error("second Delete reported a factor")
		}
		other := createUser(t, s)
		if got, _ := s.Factors.Factors(ctx, other.ID()); len(got) != 0 {
			t.Errorf("another user has factors: %+v", got)
		}
		err = s.Factors.Put(ctx, mfa.Factor{UserID: user.ID(newID(t)), Method: mfa.MethodTOTP, Secret: []byte("x"), CreatedAt: t0})
		wantErr(t, "Put for an unknown user", err, user.ErrNotFound)
	})

	run(t, setup, "a TOTP step is used once, under any concurrency (MF-02)", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		if ok, err := s.Factors.UseTOTPStep(ctx, u.ID(), 1); ok || err != nil {
			t.Fatalf("without a TOTP factor: %v, %v", ok, err)
		}
		mustNotFail(t, "Put", s.Factors.Put(ctx, mfa.Factor{UserID: u.ID(), Method: mfa.MethodTOTP, Secret: []byte("s"), LastUsedStep: 100, CreatedAt: t0}))
		for _, c := range []struct {
			step int64
			want bool
		}{{100, false}, {99, false}, {101, true}, {101, false}, {103, true}, {102, false}} {
			if ok, err := s.Factors.UseTOTPStep(ctx, u.ID(), c.step); ok != c.want || err != nil {
				t.Fatalf("UseTOTPStep(%d) = %v, %v; want %v", c.step, ok, err, c.want)
			}
		}
		if wins := concurrently(t, 20, func() (bool, error) { return s.Factors.UseTOTPStep(ctx, u.ID(), 105) }); wins != 1 {
			t.Fatalf("%d of 20 concurrent uses of one step won, want 1", wins)
		}
		f, _ := s.Factors.Factors(ctx, u.ID())
		if f[0].LastUsedStep != 105 {
			t.Errorf("LastUsedStep = %d", f[0].LastUsedStep)
		}
	})

	run(t, setup, "a rolled-back transaction leaves factors and steps as they were", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		mustNotFail(t, "Put", s.Factors.Put(ctx, mfa.Factor{UserID: u.ID(), Method: mfa.MethodTOTP, Secret: []byte("s"), LastUsedStep: 5, CreatedAt: t0}))
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if ok, err := s.Factors.UseTOTPStep(ctx, u.ID(), 9); !ok || err != nil {
				return fmt.Errorf("use step: %v %w", ok, err)
			}
			if err := s.Factors.Put(ctx, mfa.Factor{UserID: u.ID(), Method: mfa.MethodEmail, CreatedAt: t0}); err != nil {
				return err
			}
			if _, err := s.Factors.Delete(ctx, u.ID(), mfa.MethodTOTP); err != nil {
				return err
			}
			return errBoom
		})
		wantErr(t, "WithinTx", err, errBoom)
		f, _ := s.Factors.Factors(ctx, u.ID())
		if len(f) != 1 || f[0].Method != mfa.MethodTOTP || f[0].LastUsedStep != 5 {
			t.Fatalf("after rollback: %+v", f)
		}
	})

	run(t, setup, "enrollments are apart from factors and confirmed once", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		_, err := s.Factors.Enrollment(ctx, u.ID(), mfa.MethodTOTP)
		wantErr(t, "Enrollment before any", err, mfa.ErrNoEnrollment)
		e := mfa.Enrollment{UserID: u.ID(), Method: mfa.MethodTOTP, Secret: []byte("sealed-a"), CreatedAt: t0, ExpiresAt: t0.Add(mfa.EnrollmentTTL)}
		mustNotFail(t, "PutEnrollment", s.Factors.PutEnrollment(ctx, e))
		e.Secret, e.CreatedAt = []byte("sealed-b"), t0.Add(time.Minute)
		mustNotFail(t, "restart", s.Factors.PutEnrollment(ctx, e))
		mustNotFail(t, "PutEnrollment sms", s.Factors.PutEnrollment(ctx, mfa.Enrollment{UserID: u.ID(), Method: mfa.MethodSMS,
			Secret: []byte("code"), Phone: "+442079460958", CreatedAt: t0, ExpiresAt: t0.Add(mfa.CodeTTL)}))
		got, err := s.Factors.Enrollment(ctx, u.ID(), mfa.MethodTOTP)
		mustNotFail(t, "Enrollment", err)
		if !bytes.Equal(got.Secret, []byte("sealed-b")) || !sameTime(got.CreatedAt, t0.Add(time.Minute)) ||
			!sameTime(got.ExpiresAt, e.ExpiresAt) || got.Method != mfa.MethodTOTP || got.UserID != u.ID() {
			t.Errorf("Enrollment = %+v", got)
		}
		if sms, _ := s.Factors.Enrollment(ctx, u.ID(), mfa.MethodSMS); sms.Phone != "+442079460958" {
			t.Errorf("sms enrollment = %+v", sms)
		}
		if f, _ := s.Factors.Factors(ctx, u.ID()); len(f) != 0 {
			t.Errorf("an enrollment shows as a factor: %+v", f)
		}
		if wins := concurrently(t, 10, func() (bool, error) { return s.Factors.DeleteEnrollment(ctx, u.ID(), mfa.MethodTOTP) }); wins != 1 {
			t.Fatalf("%d of 10 concurrent confirmations went on, want 1", wins)
		}
		_, err = s.Factors.Enrollment(ctx, u.ID(), mfa.MethodTOTP)
		wantErr(t, "Enrollment after delete", err, mfa.ErrNoEnrollment)
		err = s.Factors.PutEnrollment(ctx, mfa.Enrollment{UserID: user.ID(newID(t)), Method: mfa.MethodTOTP, Secret: []byte("x"), CreatedAt: t0, ExpiresAt: t0})
		wantErr(t, "PutEnrollment for an unknown user", err, user.ErrNotFound)
	})
}

// BackupCodes is the contract of ports.BackupCodes (MF-07).
func BackupCodes(t *testing.T, setup Setup) {
	hashes := func(prefix string) []string {
		var hs []string
		for i := range mfa.BackupCodeCount {
			hs = append(hs, fmt.Sprintf("%s-%02d", prefix, i))
		}
		return hs
	}
	run(t, setup, "codes are single-use, counted, and a new set replaces the old", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u, other := createUser(t, s), createUser(t, s)
		first := hashes("a")
		mustNotFail(t, "Replace", s.BackupCodes.Replace(ctx, u.ID(), first, t0))
		mustNotFail(t, "Replace other", s.BackupCodes.Replace(ctx, other.ID(), hashes("o"), t0))
		if n, err := s.BackupCodes.Remaining(ctx, u.ID()); n != 10 || err != nil {
			t.Fatalf("Remaining = %d, %v", n, err)
		}
		if ok, err := s.BackupCodes.Use(ctx, u.ID(), first[3], t0); !ok || err != nil {
			t.Fatalf("Use = %v, %v", ok, err)
		}
		for _, c := range []struct {
			name string
			uid  user.ID
			hash string
		}{{"used again", u.ID(), first[3]}, {"unknown", u.ID(), "nope"}, {"another user's", u.ID(), "o-01"}, {"mine by another user", other.ID(), first[4]}} {
			if ok, err := s.BackupCodes.Use(ctx, c.uid, c.hash, t0); ok || err != nil {
				t.Errorf("%s: Use = %v, %v", c.name, ok, err)
			}
		}
		if n, _ := s.BackupCodes.Remaining(ctx, u.ID()); n != 9 {
			t.Errorf("Remaining after one use = %d", n)
		}
		mustNotFail(t, "Replace with a new set", s.BackupCodes.Replace(ctx, u.ID(), hashes("b"), t0.Add(time.Hour)))
		if ok, _ := s.BackupCodes.Use(ctx, u.ID(), first[5], t0); ok {
			t.Error("a code of the old set works after regeneration")
		}
		if n, _ := s.BackupCodes.Remaining(ctx, u.ID()); n != 10 {
			t.Errorf("Remaining of the new set = %d", n)
		}
		mustNotFail(t, "Replace with none", s.BackupCodes.Replace(ctx, u.ID(), nil, t0))
		if n, _ := s.BackupCodes.Remaining(ctx, u.ID()); n != 0 {
			t.Errorf("Remaining after clearing = %d", n)
		}
		if n, _ := s.BackupCodes.Remaining(ctx, other.ID()); n != 10 {
			t.Errorf("another user's codes changed: %d", n)
		}
		wantErr(t, "Replace for an unknown user", s.BackupCodes.Replace(ctx, user.ID(newID(t)), first, t0), user.ErrNotFound)
	})

	run(t, setup, "of concurrent uses of one code one wins; rollback restores it", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		hs := hashes("c")
		mustNotFail(t, "Replace", s.BackupCodes.Replace(ctx, u.ID(), hs, t0))
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if ok, err := s.BackupCodes.Use(ctx, u.ID(), hs[0], t0); !ok || err != nil {
				return fmt.Errorf("use: %v %w", ok, err)
			}
			if err := s.BackupCodes.Replace(ctx, u.ID(), nil, t0); err != nil {
				return err
			}
			return errBoom
		})
		wantErr(t, "WithinTx", err, errBoom)
		if n, _ := s.BackupCodes.Remaining(ctx, u.ID()); n != 10 {
			t.Fatalf("after rollback Remaining = %d", n)
		}
		if wins := concurrently(t, 10, func() (bool, error) { return s.BackupCodes.Use(ctx, u.ID(), hs[0], t0) }); wins != 1 {
			t.Fatalf("%d of 10 concurrent uses won, want 1", wins)
		}
	})
}

// MFAChallenges is the contract of ports.MFAChallenges (MF-06).
func MFAChallenges(t *testing.T, setup Setup) {
	newChallenge := func(t *testing.T, s Stores, ttl ...time.Duration) mfa.Challenge {
		t.Helper()
		life := mfa.ChallengeTTL
		if len(ttl) > 0 {
			life = ttl[0]
		}
		u := createUser(t, s)
		c := mfa.Challenge{Hash: session.TokenHash("ch-" + newID(t)), UserID: u.ID(), Methods: []mfa.Method{mfa.MethodTOTP, mfa.MethodBackup},
			Client: session.Client{IP: "203.0.113.7", UserAgent: "adaptertest/1.0"}, PriorFailures: 4, CreatedAt: t0, ExpiresAt: t0.Add(life)}
		mustNotFail(t, "Create", s.Challenges.Create(t.Context(), c))
		return c
	}
	run(t, setup, "attempts are counted to the limit and the challenge round-trips", func(t *testing.T, s Stores) {
		ctx := t.Context()
		c := newChallenge(t, s)
		peek, err := s.Challenges.ByHash(ctx, c.Hash, t0)
		mustNotFail(t, "ByHash", err)
		if peek.Attempts != 0 || peek.PriorFailures != 4 || peek.UserID != c.UserID {
			t.Fatalf("ByHash = %+v", peek)
		}
		for i := 1; i <= mfa.MaxAttempts; i++ {
			got, err := s.Challenges.Attempt(ctx, c.Hash, t0.Add(time.Minute))
			mustNotFail(t, "Attempt", err)
			if got.Attempts != i || got.UserID != c.UserID || !slices.Equal(got.Methods, c.Methods) || got.Client != c.Client ||
				!sameTime(got.CreatedAt, t0) || !sameTime(got.ExpiresAt, c.ExpiresAt) || got.Hash != c.Hash || !got.CodeMethod.IsZero() ||
				got.PriorFailures != 4 {
				t.Fatalf("attempt %d: %+v", i, got)
			}
		}
		_, err = s.Challenges.Attempt(ctx, c.Hash, t0.Add(time.Minute))
		wantErr(t, "attempt past the limit", err, mfa.ErrInvalidChallenge)
		_, err = s.Challenges.ByHash(ctx, c.Hash, t0)
		wantErr(t, "ByHash past the limit", err, mfa.ErrInvalidChallenge)
		_, err = s.Challenges.Attempt(ctx, "unknown", t0)
		wantErr(t, "unknown challenge", err, mfa.ErrInvalidChallenge)
		wantErr(t, "Create for an unknown user", s.Challenges.Create(ctx, mfa.Challenge{Hash: "x", UserID: user.ID(newID(t)),
			Methods: []mfa.Method{mfa.MethodTOTP}, CreatedAt: t0, ExpiresAt: t0}), user.ErrNotFound)
	})

	run(t, setup, "no more than the limit of concurrent attempts get through", func(t *testing.T, s Stores) {
		ctx := t.Context()
		c := newChallenge(t, s)
		wins := concurrently(t, 20, func() (bool, error) {
			_, err := s.Challenges.Attempt(ctx, c.Hash, t0)
			if errors.Is(err, mfa.ErrInvalidChallenge) {
				return false, nil
			}
			return err == nil, err
		})
		if wins != mfa.MaxAttempts {
			t.Fatalf("%d of 20 concurrent attempts got through, want %d", wins, mfa.MaxAttempts)
		}
	})

	run(t, setup, "expiry, sent codes, single deletion and rollback", func(t *testing.T, s Stores) {
		ctx := t.Context()
		c := newChallenge(t, s)
		_, err := s.Challenges.Attempt(ctx, c.Hash, c.ExpiresAt)
		wantErr(t, "attempt at expiry", err, mfa.ErrInvalidChallenge)
		_, err = s.Challenges.ByHash(ctx, c.Hash, c.ExpiresAt)
		wantErr(t, "ByHash at expiry", err, mfa.ErrInvalidChallenge)
		mustNotFail(t, "SetCode", s.Challenges.SetCode(ctx, c.Hash, mfa.MethodEmail, []byte("sealed-code"), t0.Add(mfa.CodeTTL)))
		got, err := s.Challenges.Attempt(ctx, c.Hash, t0)
		mustNotFail(t, "Attempt", err)
		if got.CodeMethod != mfa.MethodEmail || !bytes.Equal(got.Code, []byte("sealed-code")) || !sameTime(got.CodeExpiresAt, t0.Add(mfa.CodeTTL)) {
			t.Errorf("code = %v %q %v", got.CodeMethod, got.Code, got.CodeExpiresAt)
		}
		wantErr(t, "SetCode of an unknown challenge", s.Challenges.SetCode(ctx, "unknown", mfa.MethodSMS, []byte("x"), t0), mfa.ErrInvalidChallenge)

		err = s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if ok, err := s.Challenges.Delete(ctx, c.Hash); !ok || err != nil {
				return fmt.Errorf("delete: %v %w", ok, err)
			}
			return errBoom
		})
		wantErr(t, "WithinTx", err, errBoom)
		if wins := concurrently(t, 10, func() (bool, error) { return s.Challenges.Delete(ctx, c.Hash) }); wins != 1 {
			t.Fatalf("%d of 10 concurrent deletions won, want 1 (and the rollback must have restored it)", wins)
		}

		stale, live := newChallenge(t, s), newChallenge(t, s, time.Hour)
		n, err := s.Challenges.DeleteExpired(ctx, stale.ExpiresAt)
		mustNotFail(t, "DeleteExpired", err)
		if n != 1 {
			t.Errorf("DeleteExpired = %d, want 1", n)
		}
		_, err = s.Challenges.Attempt(ctx, stale.Hash, t0)
		wantErr(t, "attempt after DeleteExpired", err, mfa.ErrInvalidChallenge)
		if _, err := s.Challenges.Attempt(ctx, live.Hash, stale.ExpiresAt); err != nil {
			t.Errorf("the live challenge was deleted too: %v", err)
		}
	})
}
