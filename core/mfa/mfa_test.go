package mfa_test

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // RFC 6238's default HMAC, for the test's reference codes
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/mfa"
)

// refTOTP is a straight RFC 4226 HOTP (six digits) so the window logic is
// tested without the adapter.
func refTOTP(secret []byte) func(int64) (string, error) {
	return func(step int64) (string, error) {
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], uint64(step))
		m := hmac.New(sha1.New, secret)
		m.Write(buf[:])
		h := m.Sum(nil)
		off := h[len(h)-1] & 0x0f
		v := binary.BigEndian.Uint32(h[off:off+4]) & 0x7fffffff
		return fmt.Sprintf("%06d", v%1_000_000), nil
	}
}

// TestMatchTOTP_OneStepOfSkew_MF03: codes of the step before and after are
// accepted, a code from 60 s ago or ahead is not, and the matched step is
// reported so the caller can refuse its reuse.
func TestMatchTOTP_OneStepOfSkew_MF03(t *testing.T) {
	secret := []byte("12345678901234567890")
	code := refTOTP(secret)
	now := time.Unix(1111111109, 0) // step 37037036, 29 s into it
	cur := mfa.Step(now)
	for _, tt := range []struct {
		name   string
		step   int64
		wantOK bool
	}{
		{"current", cur, true},
		{"previous (t-30s)", cur - 1, true},
		{"next (t+30s)", cur + 1, true},
		{"t-60s", cur - 2, false},
		{"t+60s", cur + 2, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := code(tt.step)
			step, ok, err := mfa.MatchTOTP(c, now, code)
			if err != nil || ok != tt.wantOK || (ok && step != tt.step) {
				t.Fatalf("MatchTOTP(%s) = %d, %v, %v; want step %d ok %v", c, step, ok, err, tt.step, tt.wantOK)
			}
		})
	}
	if _, ok, _ := mfa.MatchTOTP("12345", now, code); ok {
		t.Error("a five-digit code matched")
	}
}

func TestNormalizeDigits(t *testing.T) {
	for in, want := range map[string]string{"123456": "123456", " 123 456 ": "123456", "123-456": "123456"} {
		if got, ok := mfa.NormalizeDigits(in); !ok || got != want {
			t.Errorf("%q: %q %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "12345", "1234567", "12345a", "１２３４５６"} {
		if _, ok := mfa.NormalizeDigits(in); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestBackupCodes_Format_MF07: 120-bit codes, grouped for reading, typed
// back in any case and grouping, hashed for storage.
func TestBackupCodes_Format_MF07(t *testing.T) {
	random := []byte("0123456789abcde") // 15 bytes
	code := mfa.FormatBackupCode(random)
	if len(code) != 29 || strings.Count(code, "-") != 5 || code != strings.ToLower(code) {
		t.Fatalf("code = %q", code)
	}
	norm, ok := mfa.NormalizeBackupCode(code)
	if !ok {
		t.Fatalf("the formatted code does not normalise")
	}
	typed, ok := mfa.NormalizeBackupCode(" " + strings.ToUpper(strings.ReplaceAll(code, "-", " ")) + " ")
	if !ok || typed != norm {
		t.Errorf("typed differently: %q %v, want %q", typed, ok, norm)
	}
	if mfa.HashBackupCode(norm) == norm || len(mfa.HashBackupCode(norm)) != 64 {
		t.Error("hash is not a SHA-256 hex digest")
	}
	other, _ := mfa.NormalizeBackupCode(mfa.FormatBackupCode([]byte("0123456789abcdf")))
	if mfa.HashBackupCode(norm) == mfa.HashBackupCode(other) {
		t.Error("different codes hash alike")
	}
	for _, bad := range []string{"", "123456", norm[:23], norm + "a", strings.Replace(norm, norm[:1], "1", 1)} {
		if _, ok := mfa.NormalizeBackupCode(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{"+14155550123": "+14155550123", "+44 (20) 7946-0958": "+442079460958", "+49.30.1234567": "+49301234567"} {
		if got, err := mfa.NormalizePhone(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"", "4155550123", "+0123456789", "+1415555012a", "+1234567", "+1234567890123456", "+1415\n5550123"} {
		if _, err := mfa.NormalizePhone(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	if got := mfa.MaskPhone("+14155550123"); got != "+1••••••••23" {
		t.Errorf("mask = %q", got)
	}
}

func TestSessionAMR(t *testing.T) {
	amr := mfa.SessionAMR([]string{"pwd"}, mfa.MethodTOTP)
	if strings.Join(amr, ",") != "pwd,otp,mfa" || !mfa.SecondFactor(amr) || mfa.SecondFactor([]string{"pwd"}) {
		t.Errorf("amr = %v", amr)
	}
	if strings.Join(mfa.SessionAMR([]string{"pwd"}, mfa.MethodSMS), ",") != "pwd,sms,mfa" {
		t.Error("sms amr")
	}
}

func TestChallengeLive_MF06(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := mfa.Challenge{ExpiresAt: now.Add(mfa.ChallengeTTL), Methods: []mfa.Method{mfa.MethodTOTP}}
	if !c.Live(now) || !c.Offers(mfa.MethodTOTP) || c.Offers(mfa.MethodSMS) {
		t.Fatal("fresh challenge")
	}
	c.Attempts = mfa.MaxAttempts
	if c.Live(now) {
		t.Error("a challenge with five attempts spent is live")
	}
	c.Attempts = 0
	if c.Live(now.Add(mfa.ChallengeTTL)) {
		t.Error("an expired challenge is live")
	}
}
