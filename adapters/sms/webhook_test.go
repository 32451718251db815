package sms_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/sms"
	"github.com/usermgmt/usermgmt/ports"
)

const secret = "a webhook secret of some length"

// bridge is the operator's side of the webhook: it checks signatures and
// answers with the statuses it is told to.
type bridge struct {
	mu       sync.Mutex
	statuses []int // answers to give, in order; 200 after they run out
	got      []received
}

type received struct {
	id, key, to, text string
	signed            bool
}

func (b *bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts := r.Header.Get("X-Usermgmt-Timestamp")
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	sec, _ := strconv.ParseInt(ts, 10, 64)
	signed := r.Header.Get("X-Usermgmt-Signature") == "v1="+hex.EncodeToString(m.Sum(nil)) &&
		time.Since(time.Unix(sec, 0)).Abs() < time.Minute && r.Header.Get("Content-Type") == "application/json"
	var msg struct{ ID, To, Text string }
	_ = json.Unmarshal(body, &msg)
	b.mu.Lock()
	b.got = append(b.got, received{id: msg.ID, key: r.Header.Get("Idempotency-Key"), to: msg.To, text: msg.Text, signed: signed})
	status := http.StatusOK
	if len(b.statuses) > 0 {
		status, b.statuses = b.statuses[0], b.statuses[1:]
	}
	b.mu.Unlock()
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "0")
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"echo":"` + msg.Text + `"}`))
}

func (b *bridge) received() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.got...)
}

func newWebhook(t *testing.T, b *bridge) *sms.Webhook {
	t.Helper()
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	w, err := sms.New(sms.Config{URL: srv.URL + "/sms?token=query-secret", Secret: secret, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestSMSContract runs the SMS suite against a bridge that checks each
// request's signature: an unsigned one does not count as delivered.
func TestSMSContract(t *testing.T) {
	adaptertest.SMSSender(t, func(t *testing.T) adaptertest.SMSRig {
		b := &bridge{}
		return adaptertest.SMSRig{
			Sender: newWebhook(t, b),
			Sent: func() []adaptertest.SMS {
				var out []adaptertest.SMS
				for _, m := range b.received() {
					if m.signed {
						out = append(out, adaptertest.SMS{To: m.to, Text: m.text})
					}
				}
				return out
			},
			Failing: func(t *testing.T) ports.SMSSender {
				return newWebhook(t, &bridge{statuses: []int{500, 500, 500}})
			},
		}
	})
}

// TestWebhook_MessageIDIsTheIdempotencyKey: the bridge can tell a retry
// from a new message.
func TestWebhook_MessageIDIsTheIdempotencyKey(t *testing.T) {
	b := &bridge{}
	if err := newWebhook(t, b).SendSMS(t.Context(), "+14155550123", "usermgmt code: 123456"); err != nil {
		t.Fatal(err)
	}
	if got := b.received(); len(got) != 1 || got[0].id == "" || got[0].key != got[0].id {
		t.Fatalf("bridge received %+v", got)
	}
}

// TestWebhook_RetriesTransientFailures: 503 and 429 are retried with one
// idempotency key, so the bridge can drop duplicates; 4xx is not retried.
func TestWebhook_RetriesTransientFailures(t *testing.T) {
	b := &bridge{statuses: []int{503, 429}}
	w := newWebhook(t, b)
	if err := w.SendSMS(t.Context(), "+14155550123", "usermgmt code: 654321"); err != nil {
		t.Fatal(err)
	}
	got := b.received()
	if len(got) != 3 || got[0].key != got[1].key || got[1].key != got[2].key || !got[2].signed {
		t.Fatalf("attempts = %+v, want 3 with one key", got)
	}
	b2 := &bridge{statuses: []int{400}}
	err := newWebhook(t, b2).SendSMS(t.Context(), "+14155550123", "usermgmt code: 111111")
	if err == nil || len(b2.received()) != 1 {
		t.Fatalf("a 400: %v after %d attempts, want one failed attempt", err, len(b2.received()))
	}
}

// TestWebhook_ErrorsHideSecrets: the URL's token reaches no error, whatever
// the bridge answers, and neither does the code when there is no bridge
// (the contract checks the code against a bridge that answers 500).
func TestWebhook_ErrorsHideSecrets(t *testing.T) {
	b := &bridge{statuses: []int{500, 500, 500}}
	err := newWebhook(t, b).SendSMS(t.Context(), "+14155550123", "usermgmt code: 987654")
	if err == nil || strings.Contains(err.Error(), "query-secret") {
		t.Errorf("after three 500s: %v", err)
	}
	w, err := sms.New(sms.Config{URL: "http://127.0.0.1:1/sms?token=query-secret", Secret: secret, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = w.SendSMS(t.Context(), "+14155550123", "usermgmt code: 987654")
	if err == nil || strings.Contains(err.Error(), "query-secret") || strings.Contains(err.Error(), "987654") {
		t.Errorf("connection error %v", err)
	}
}

// TestWebhook_BreakerOpens: after repeated failures calls fail fast
// without reaching the bridge.
func TestWebhook_BreakerOpens(t *testing.T) {
	b := &bridge{statuses: make([]int, 100)}
	for i := range b.statuses {
		b.statuses[i] = 502
	}
	w := newWebhook(t, b)
	var err error
	for range 4 {
		err = w.SendSMS(t.Context(), "+14155550123", "x")
	}
	if !errors.Is(err, sms.ErrCircuitOpen) {
		t.Fatalf("after repeated failures: %v, want the circuit open", err)
	}
	n := len(b.received())
	if err := w.SendSMS(t.Context(), "+14155550123", "x"); !errors.Is(err, sms.ErrCircuitOpen) || len(b.received()) != n {
		t.Errorf("an open circuit reached the bridge: %v", err)
	}
}

func TestNew_Validates(t *testing.T) {
	for _, c := range []sms.Config{
		{URL: "http://sms.example.com/hook", Secret: secret},
		{URL: "ftp://127.0.0.1/hook", Secret: secret},
		{URL: "https://sms.example.com/hook", Secret: "short"},
		{URL: "not a url", Secret: secret},
	} {
		if _, err := sms.New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := sms.New(sms.Config{URL: "https://sms.example.com/hook", Secret: secret}); err != nil {
		t.Errorf("a valid config: %v", err)
	}
}
