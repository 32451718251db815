// Package sms delivers text messages through a webhook: each message is
// posted as signed JSON to a URL the operator runs, a thin bridge to
// Twilio, Vonage, SNS or a test inbox, so no provider's SDK or credentials
// live in usermgmt.
//
// The request:
//
//	POST <url>
//	Content-Type: application/json
//	Idempotency-Key: <id>             the same on every retry of one message
//	X-Usermgmt-Timestamp: <unix seconds>
//	X-Usermgmt-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
//	{"id": "<id>", "to": "+14155550123", "text": "..."}
//
// Any 2xx answer is delivery. 429 and 5xx are retried (twice, with backoff or
// the answer's Retry-After); repeated failures open a circuit breaker, so a
// dead bridge fails sign-in codes fast instead of tying up requests. The
// text carries a code: it never appears in a log or an error.
package sms

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/failsafe-go/failsafe-go/timeout"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/ports"
)

// Config configures a Webhook.
type Config struct {
	// URL receives the messages: https, or http on a loopback address.
	URL string
	// Secret signs every request; at least 16 bytes.
	Secret string
	// Timeout bounds one attempt (default 5s).
	Timeout time.Duration
	// Transport is the HTTP transport (default: a clone of http.DefaultTransport).
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// Webhook is ports.SMSSender over an HTTP webhook.
type Webhook struct {
	url    string
	host   string // for errors: never the full URL, which may carry a token
	secret []byte
	client *http.Client
}

var _ ports.SMSSender = (*Webhook)(nil)

// New validates cfg and returns the sender.
func New(cfg Config) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	plainLoopback := u != nil && u.Scheme == "http" && loopback(u.Hostname())
	if err != nil || u.Host == "" || (u.Scheme != "https" && !plainLoopback) {
		return nil, errors.New("sms: webhook URL must be https (http only to a loopback address)")
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("sms: webhook secret must be at least 16 bytes")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	inner := cfg.Transport
	if inner == nil {
		inner = http.DefaultTransport.(*http.Transport).Clone()
	}
	rt := failsafehttp.NewRoundTripper(inner, policies(cfg.Timeout, cfg.Logger)...)
	return &Webhook{url: cfg.URL, host: u.Host, secret: []byte(cfg.Secret), client: &http.Client{Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// policies wrap each message: retries of 429 and 5xx (twice, honouring
// Retry-After), a breaker that opens after five failures in a row, and a
// timeout per attempt.
func policies(perAttempt time.Duration, log *slog.Logger) []failsafe.Policy[*http.Response] {
	retry := failsafehttp.NewRetryPolicyBuilder().
		WithMaxRetries(2).
		WithBackoff(200*time.Millisecond, 2*time.Second).
		ReturnLastFailure().
		Build()
	breaker := circuitbreaker.NewBuilder[*http.Response]().
		HandleIf(func(r *http.Response, err error) bool { return err != nil || r.StatusCode >= 500 }).
		WithFailureThreshold(5).
		WithDelay(30 * time.Second).
		OnOpen(func(circuitbreaker.StateChangedEvent) { log.Warn("sms: circuit open; the webhook keeps failing") }).
		OnClose(func(circuitbreaker.StateChangedEvent) { log.Info("sms: circuit closed; the webhook answers again") }).
		Build()
	return []failsafe.Policy[*http.Response]{retry, breaker, timeout.New[*http.Response](perAttempt)}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type message struct {
	ID   string `json:"id"`
	To   string `json:"to"`
	Text string `json:"text"`
}

// ErrCircuitOpen is returned while the breaker holds calls back.
var ErrCircuitOpen = errors.New("sms: webhook is failing; sending paused")

// SendSMS posts the message and returns once the webhook accepted it.
func (w *Webhook) SendSMS(ctx context.Context, to, text string) error {
	if p, err := mfa.NormalizePhone(to); err != nil || p != to {
		return mfa.ErrInvalidPhone
	}
	// The transport may write a request on an idle kept-alive connection
	// before it sees a cancellation: a caller who gave up gets nothing sent.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sms: %w", err)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return fmt.Errorf("sms: message id: %w", err)
	}
	body, err := json.Marshal(message{ID: hex.EncodeToString(id), To: to, Text: text})
	if err != nil {
		return fmt.Errorf("sms: encode: %w", err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, w.secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sms: request to %s: %w", w.host, redact(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", hex.EncodeToString(id))
	req.Header.Set("X-Usermgmt-Timestamp", ts)
	req.Header.Set("X-Usermgmt-Signature", "v1="+hex.EncodeToString(m.Sum(nil)))
	res, err := w.client.Do(req)
	if errors.Is(err, circuitbreaker.ErrOpen) {
		return ErrCircuitOpen
	}
	if err != nil {
		return fmt.Errorf("sms: post to %s: %w", w.host, redact(err))
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("sms: %s answered %d", w.host, res.StatusCode)
	}
	return nil
}

// redact drops the URL from a url.Error: it may carry a token in its query.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
