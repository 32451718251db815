package adaptertest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/ports"
)

// SMS is a text message as its recipient's side received it.
type SMS struct{ To, Text string }

// SMSRig is one ports.SMSSender under test and what observes it.
type SMSRig struct {
	Sender ports.SMSSender
	// Sent returns the messages delivered so far, oldest first.
	Sent func() []SMS
	// Failing returns a sender of the same kind whose delivery fails, in
	// the way most likely to leak the text (a bridge that answers 500
	// with the request echoed). Nil when delivery cannot fail.
	Failing func(t *testing.T) ports.SMSSender
}

// SMSSetup returns a fresh rig for one test; cleanup goes to t.Cleanup.
// Subtests call t.Parallel.
type SMSSetup func(t *testing.T) SMSRig

// smsCode is the secret every message of the suite carries; it must not
// reach an error, where it would be logged.
const smsCode = "731904"

const smsText = "usermgmt code: " + smsCode

// SMSSender is the contract of ports.SMSSender.
func SMSSender(t *testing.T, setup SMSSetup) {
	runSMS(t, setup, "one message reaches the number with the text", func(t *testing.T, r SMSRig) {
		mustNotFail(t, "SendSMS", r.Sender.SendSMS(t.Context(), "+14155550123", smsText))
		if got := r.Sent(); len(got) != 1 || got[0] != (SMS{To: "+14155550123", Text: smsText}) {
			t.Fatalf("sent %+v, want one message to +14155550123 with the text", got)
		}
	})

	runSMS(t, setup, "a cancelled context is an error and sends nothing", func(t *testing.T, r SMSRig) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := r.Sender.SendSMS(ctx, "+14155550123", smsText)
		wantErr(t, "SendSMS with a cancelled context", err, context.Canceled)
		checkSMSError(t, err)
		if got := r.Sent(); len(got) != 0 {
			t.Fatalf("sent %+v after the caller gave up", got)
		}
	})

	runSMS(t, setup, "a number not in E.164 form is refused and nothing is sent", func(t *testing.T, r SMSRig) {
		for _, to := range []string{
			"", "14155550123", "+", "+1415", "+1234567890123456", "+04155550123", "+1415555012x",
			"+1 415 555 0123", // valid once normalised, but the core passes the normalised form only
			"+14155550123\n+14155550199", "+14155550123@example.com",
		} {
			err := r.Sender.SendSMS(t.Context(), to, smsText)
			if !errors.Is(err, mfa.ErrInvalidPhone) {
				t.Errorf("SendSMS(%q) = %v, want mfa.ErrInvalidPhone", to, err)
			}
			checkSMSError(t, err)
		}
		if got := r.Sent(); len(got) != 0 {
			t.Fatalf("sent %+v to invalid numbers", got)
		}
	})

	runSMS(t, setup, "a failed delivery is an error without the text", func(t *testing.T, r SMSRig) {
		if r.Failing == nil {
			t.Skip("this sender cannot fail to deliver")
		}
		err := r.Failing(t).SendSMS(t.Context(), "+14155550123", smsText)
		if err == nil {
			t.Fatal("a failed delivery returned nil")
		}
		checkSMSError(t, err)
	})
}

func runSMS(t *testing.T, setup SMSSetup, name string, fn func(t *testing.T, r SMSRig)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		fn(t, setup(t))
	})
}

// checkSMSError fails if err carries the code: errors are logged.
func checkSMSError(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), smsCode) {
		t.Errorf("error %q carries the message's code", err)
	}
}
