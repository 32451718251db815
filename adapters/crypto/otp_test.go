package crypto_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/core/mfa"
)

// TestTOTP_RFC6238AppendixB_MF01 runs all 18 vectors of RFC 6238 Appendix B:
// 8 digits, each algorithm with the seed length of its hash (the reference
// implementation's seeds, see docs/security.md), steps from the RFC's times
// through mfa.Step, the function the service uses.
func TestTOTP_RFC6238AppendixB_MF01(t *testing.T) {
	seeds := map[crypto.OTPAlgorithm]string{
		crypto.OTPSHA1:   "12345678901234567890",
		crypto.OTPSHA256: "12345678901234567890123456789012",
		crypto.OTPSHA512: "1234567890123456789012345678901234567890123456789012345678901234",
	}
	vectors := []struct {
		unix int64
		want map[crypto.OTPAlgorithm]string
	}{
		{59, map[crypto.OTPAlgorithm]string{crypto.OTPSHA1: "94287082", crypto.OTPSHA256: "46119246", crypto.OTPSHA512: "90693936"}},
		{1111111109, map[crypto.OTPAlgorithm]string{crypto.OTPSHA1: "07081804", crypto.OTPSHA256: "68084774", crypto.OTPSHA512: "25091201"}},
		{1111111111, map[crypto.OTPAlgorithm]string{crypto.OTPSHA1: "14050471", crypto.OTPSHA256: "67062674", crypto.OTPSHA512: "99943326"}},
		{1234567890, map[crypto.OTPAlgorithm]string{crypto.OTPSHA1: "89005924", crypto.OTPSHA256: "91819424", crypto.OTPSHA512: "93441116"}},
		{2000000000, map[crypto.OTPAlgorithm]string{crypto.OTPSHA1: "69279037", crypto.OTPSHA256: "90698825", crypto.OTPSHA512: "38618901"}},
		{20000000000, map[crypto.OTPAlgorithm]string{crypto.OTPSHA1: "65353130", crypto.OTPSHA256: "77737706", crypto.OTPSHA512: "47863826"}},
	}
	n := 0
	for _, v := range vectors {
		for alg, want := range v.want {
			o, err := crypto.NewOTPWith(alg, 8)
			if err != nil {
				t.Fatal(err)
			}
			got, err := o.TOTP([]byte(seeds[alg]), mfa.Step(time.Unix(v.unix, 0)))
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s at %d: got %s, want %s", alg, v.unix, got, want)
			}
			n++
		}
	}
	if n != 18 {
		t.Fatalf("ran %d vectors, want 18", n)
	}
}

// TestTOTP_SixDigitsKeepLeadingZeros_MF01: the production code (SHA-1, six
// digits) is the last six digits of the same value.
func TestTOTP_SixDigitsKeepLeadingZeros_MF01(t *testing.T) {
	o := crypto.NewOTP()
	seed := []byte("12345678901234567890")
	for unix, want := range map[int64]string{59: "287082", 1111111109: "081804", 20000000000: "353130"} {
		got, err := o.TOTP(seed, mfa.Step(time.Unix(unix, 0)))
		if err != nil || got != want {
			t.Errorf("at %d: got %q (%v), want %q", unix, got, err, want)
		}
	}
}

// TestHOTP_RFC4226AppendixD_MF01 runs the ten HOTP values of RFC 4226.
func TestHOTP_RFC4226AppendixD_MF01(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	o := crypto.NewOTP()
	for counter, w := range want {
		got, err := o.HOTP([]byte("12345678901234567890"), uint64(counter))
		if err != nil || got != w {
			t.Errorf("counter %d: got %q (%v), want %q", counter, got, err, w)
		}
	}
}

func TestOTP_KeyURI(t *testing.T) {
	o := crypto.NewOTP()
	secret := []byte("12345678901234567890")
	raw, err := o.KeyURI("usermgmt", "ada@example.com", secret)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || !strings.HasSuffix(u.Path, "usermgmt:ada@example.com") ||
		q.Get("secret") != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" || q.Get("issuer") != "usermgmt" ||
		q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" {
		t.Errorf("uri = %s", raw)
	}
	if _, err := o.KeyURI("usermgmt", "ada", secret[:15]); err == nil {
		t.Error("a 120-bit secret was accepted (RFC 4226 asks for at least 128)")
	}
}

func TestOTP_RejectsBadSettings(t *testing.T) {
	if _, err := crypto.NewOTPWith("MD5", 6); err == nil {
		t.Error("MD5 accepted")
	}
	if _, err := crypto.NewOTPWith(crypto.OTPSHA1, 7); err == nil {
		t.Error("7 digits accepted")
	}
	if _, err := crypto.NewOTP().TOTP(nil, 1); err == nil {
		t.Error("empty secret accepted")
	}
}

// TestOTP_CodeAt_MF01: the base32 secret an enrollment shows gives the
// RFC's code, in either case.
func TestOTP_CodeAt_MF01(t *testing.T) {
	for _, secret := range []string{"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "gezdgnbvgy3tqojqgezdgnbvgy3tqojq"} {
		if c, err := crypto.NewOTP().CodeAt(secret, time.Unix(59, 0)); err != nil || c != "287082" {
			t.Errorf("CodeAt(%s) = %q, %v", secret, c, err)
		}
	}
	if _, err := crypto.NewOTP().CodeAt("not base32!", time.Unix(59, 0)); err == nil {
		t.Error("a malformed secret gave a code")
	}
}
