package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/user"
)

// SentCode says where a code went (masked) and until when it works.
type SentCode struct {
	Method    mfa.Method
	SentTo    string
	ExpiresAt time.Time
}

// send delivers code by m after spending the account's (and for SMS the
// number's) sending budget, so nobody floods a mailbox or runs up a
// text-message bill through us.
func (sf *SecondFactors) send(ctx context.Context, u user.User, m mfa.Method, phone, code string, expires time.Time) (SentCode, error) {
	limits := sf.d.Throttle.limits
	if err := sf.d.Throttle.take(ctx, "mfa-send:"+m.String()+":"+string(u.ID()), limits.CodeSends, 15*time.Minute); err != nil {
		return SentCode{}, err
	}
	switch m {
	case mfa.MethodSMS:
		if sf.d.SMS == nil {
			return SentCode{}, mfa.ErrUnavailable
		}
		if err := sf.d.Throttle.take(ctx, "mfa-send:phone:"+phone, limits.CodeSends, time.Hour); err != nil {
			return SentCode{}, err
		}
		text := fmt.Sprintf("%s code: %s. It expires in %d minutes. Never share it.", sf.cfg.TOTPIssuer, code, int(mfa.CodeTTL.Minutes()))
		if err := sf.d.SMS.SendSMS(ctx, phone, text); err != nil {
			return SentCode{}, fmt.Errorf("send sms code: %w", err)
		}
		return SentCode{Method: m, SentTo: mfa.MaskPhone(phone), ExpiresAt: expires}, nil
	case mfa.MethodEmail:
		if err := sf.d.Mailer.SendSignInCode(ctx, u.Email(), code, expires); err != nil {
			return SentCode{}, fmt.Errorf("send email code: %w", err)
		}
		return SentCode{Method: m, SentTo: maskEmail(u.Email()), ExpiresAt: expires}, nil
	default:
		return SentCode{}, mfa.ErrUnavailable
	}
}

func maskEmail(e string) string {
	at := 0
	for i := range e {
		if e[i] == '@' {
			at = i
		}
	}
	if at <= 1 {
		return "•" + e[at:]
	}
	return e[:1] + "•••" + e[at:]
}
