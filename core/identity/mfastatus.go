package identity

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
)

func methodsOf(fs []mfa.Factor) []mfa.Method {
	ms := make([]mfa.Method, len(fs))
	for i, f := range fs {
		ms[i] = f.Method
	}
	return ms
}

// factorNames lists the methods of fs by name, as events report them.
func factorNames(fs []mfa.Factor) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Method.String()
	}
	return names
}

// FactorView is an enabled factor as its owner sees it: never its secret.
type FactorView struct {
	Method    mfa.Method
	Phone     string // masked
	CreatedAt time.Time
}

// MFAStatus is the caller's second-factor state.
type MFAStatus struct {
	Enabled              bool
	Factors              []FactorView
	BackupCodesRemaining int
	// Available are the methods the caller could enrol now.
	Available []mfa.Method
}

// MyMFA returns the caller's factors and how many backup codes are left.
func (s *MFA) MyMFA(ctx context.Context, p token.Claims) (MFAStatus, error) {
	u, err := stepUp(ctx, s.d.Users, user.ID(p.Subject), p.AMR)
	if err != nil {
		return MFAStatus{}, fmt.Errorf("mfa status: %w", err)
	}
	return s.d.Factors.status(ctx, u)
}

// status is u's second-factor state as u sees it.
func (sf *SecondFactors) status(ctx context.Context, u user.User) (MFAStatus, error) {
	fs, err := sf.d.Factors.Factors(ctx, u.ID())
	if err != nil {
		return MFAStatus{}, fmt.Errorf("mfa status: %w", err)
	}
	left, err := sf.d.BackupCodes.Remaining(ctx, u.ID())
	if err != nil {
		return MFAStatus{}, fmt.Errorf("mfa status: %w", err)
	}
	st := MFAStatus{Enabled: u.MFAEnabled(), BackupCodesRemaining: left, Factors: []FactorView{}, Available: []mfa.Method{}}
	for _, f := range fs {
		v := FactorView{Method: f.Method, CreatedAt: f.CreatedAt}
		if f.Phone != "" {
			v.Phone = mfa.MaskPhone(f.Phone)
		}
		st.Factors = append(st.Factors, v)
	}
	for _, m := range mfa.Factors {
		switch {
		case m == mfa.MethodSMS && sf.d.SMS == nil, m == mfa.MethodEmail && !u.EmailVerified():
		case m == mfa.MethodTOTP || !slices.Contains(methodsOf(fs), m):
			st.Available = append(st.Available, m)
		}
	}
	return st, nil
}
