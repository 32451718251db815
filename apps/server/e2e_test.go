package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/sqlstore/sqlstoretest"
)

// The end-to-end tests build the real server binary, start it on a free
// port and drive it over HTTP, on the embedded SQLite default and on Postgres.

// build is one of the apps' binaries, built once per test run.
type build struct {
	once sync.Once
	path string
	err  error
}

var serverBuild, workerBuild, consumerBuild build

// binary builds the main package pkg (relative to apps/server) as name.
func (b *build) binary(t *testing.T, name, pkg string) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "usermgmt-e2e-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		if out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func serverBinary(t *testing.T) string   { return serverBuild.binary(t, "server", ".") }
func workerBinary(t *testing.T) string   { return workerBuild.binary(t, "worker", "../worker") }
func consumerBinary(t *testing.T) string { return consumerBuild.binary(t, "consumer", "../consumer") }

type proc struct {
	cmd     *exec.Cmd
	base    string
	metrics string
	dataDir string // where the embedded default keeps its files and mail
	logs    *syncBuffer
	audit   *audit // every answer, checked against /openapi.json
}

// syncBuffer collects the server's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the server with env (on top of a minimal environment) and waits
// until /healthz answers.
func start(t *testing.T, env ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command(serverBinary(t)), env...)
}

// startCmd is start with the command that runs the server binary, for
// tests that run it under a shell's limits.
func startCmd(t *testing.T, cmd *exec.Cmd, env ...string) *proc {
	t.Helper()
	addr, metrics := freeAddr(t), freeAddr(t)
	// A private data directory unless env names one (the last value of a
	// variable wins), so no run writes mail or keys into the source tree.
	dataDir := t.TempDir()
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "USERMGMT_DATA_DIR="); ok {
			dataDir = v
		}
	}
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "USERMGMT_HTTP_ADDR=" + addr, "USERMGMT_LOG_FORMAT=json",
		"USERMGMT_METRICS_ADDR=" + metrics, "USERMGMT_DATA_DIR=" + dataDir}, env...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	a := audited(t, addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, base: "http://" + addr, metrics: "http://" + metrics + "/metrics", dataDir: dataDir, logs: logs, audit: a}
	t.Cleanup(func() { p.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		res, err := client.Get(p.base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				p.loadContract(t)
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not start:\n%s", logs)
	return nil
}

func (p *proc) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	recorder.forget(strings.TrimPrefix(p.base, "http://"))
	// Pooled connections that never carried a request would hold the
	// graceful shutdown until the server's read timeout.
	client.CloseIdleConnections()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server exited with %v:\n%s", err, p.logs)
		}
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("server did not stop on SIGTERM")
	}
}

// recorder records every answer of the servers under test for their audit.
var recorder = &recordingTransport{next: &http.Transport{MaxIdleConnsPerHost: 64}, audits: map[string]*audit{}}

var client = &http.Client{Timeout: 30 * time.Second, Transport: recorder}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (p *proc) call(t *testing.T, method, path, bearer string, body any) reply {
	t.Helper()
	return p.callAs(t, "", method, path, bearer, body)
}

// callAs is call from another client: userAgent replaces Go's default.
func (p *proc) callAs(t *testing.T, userAgent, method, path, bearer string, body any) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, p.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if userAgent != "" {
		req.Header.Set("User-Agent", userAgent)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (r reply) str(key string) string { s, _ := r.body[key].(string); return s }

const pw = "correct horse battery staple"

// backends runs fn against a server on SQLite and one on Postgres.
func backends(t *testing.T, fn func(t *testing.T, env []string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, []string{"USERMGMT_DATA_DIR=" + t.TempDir()})
	})
	t.Run("postgres", func(t *testing.T) {
		if testing.Short() {
			t.Skip("short mode skips Postgres")
		}
		fn(t, postgresEnv(t))
	})
}

// testEncryptionKey seals secrets in the e2e servers on Postgres, where
// instances must share a key.
const testEncryptionKey = "USERMGMT_ENCRYPTION_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// postgresEnv is the environment of a server on a fresh Postgres database.
func postgresEnv(t *testing.T) []string {
	t.Helper()
	return []string{"USERMGMT_DATABASE_URL=" + sqlstoretest.PostgresURL(t), "USERMGMT_AUTO_MIGRATE=on", testEncryptionKey}
}

func TestE2E_AccountLifecycle(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		s := start(t, env...)
		reg := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "Ada@Example.com", "username": "ada", "password": pw})
		if reg.status != 201 {
			t.Fatalf("register: %d %s", reg.status, reg.raw)
		}
		at := reg.str("accessToken")
		if v := s.call(t, "GET", "/v1/auth/verify", at, nil); v.status != 200 || v.header.Get("X-User-Id") == "" {
			t.Fatalf("verify: %d %s", v.status, v.raw)
		}
		upd := s.call(t, "PATCH", "/v1/users/me", at, map[string]any{"displayName": "Ada Lovelace", "preferences": map[string]any{"locale": "en-GB"}})
		if upd.status != 200 || upd.str("displayName") != "Ada Lovelace" {
			t.Fatalf("patch me: %d %s", upd.status, upd.raw)
		}
		if r := s.call(t, "POST", "/v1/auth/password/change", at, map[string]string{"currentPassword": pw, "newPassword": "a different long passphrase"}); r.status != 204 {
			t.Fatalf("change password: %d %s", r.status, r.raw)
		}
		login := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada@example.com", "password": "a different long passphrase"})
		if login.status != 200 {
			t.Fatalf("login: %d %s", login.status, login.raw)
		}
		if r := s.call(t, "POST", "/v1/auth/logout", login.str("accessToken"), nil); r.status != 204 {
			t.Fatalf("logout: %d %s", r.status, r.raw)
		}
		if r := s.call(t, "GET", "/v1/auth/verify", login.str("accessToken"), nil); r.status != 401 {
			t.Fatalf("verify after logout: %d, want 401 at once (SE-03)", r.status)
		}
		if r := s.call(t, "GET", "/openapi.json", "", nil); r.status != 200 || r.body["openapi"] != "3.1.0" {
			t.Fatalf("openapi: %d", r.status)
		}
		if r := s.call(t, "GET", "/schemas/events/user.created.json", "", nil); r.status != 200 || r.body["$id"] == nil {
			t.Fatalf("event schema: %d %s", r.status, r.raw)
		}
		if r := s.call(t, "GET", "/.well-known/jwks.json", "", nil); r.status != 200 || r.body["keys"] == nil {
			t.Fatalf("jwks: %d %s", r.status, r.raw)
		}
		if r := s.call(t, "GET", "/metrics", "", nil); r.status != 404 {
			t.Fatalf("metrics on the public listener: %d (IV-04)", r.status)
		}
		// Metrics live on the internal listener: requests by route template
		// and status, and the relay's commit-to-ack latency.
		deadline := time.Now().Add(10 * time.Second)
		for {
			res, err := client.Get(s.metrics)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			text := string(b)
			if strings.Contains(text, `usermgmt_http_requests_total{method="POST",route="/v1/auth/register",status="201"} 1`) &&
				strings.Contains(text, `usermgmt_outbox_commit_to_ack_seconds_count{type="user.created"} 1`) &&
				strings.Contains(text, "usermgmt_outbox_pending ") && strings.Contains(text, "usermgmt_outbox_oldest_pending_age_seconds ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("metrics lack request or relay figures:\n%s", text)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func TestE2E_RestartKeepsAccountsAndRevocations(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		s := start(t, env...)
		reg := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw})
		if reg.status != 201 {
			t.Fatalf("register: %d %s", reg.status, reg.raw)
		}
		at, rt := reg.str("accessToken"), reg.str("refreshToken")
		other := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": pw})
		if r := s.call(t, "POST", "/v1/auth/logout", other.str("accessToken"), nil); r.status != 204 {
			t.Fatalf("logout: %d", r.status)
		}
		s.stop(t)

		s = start(t, env...)
		if r := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": pw}); r.status != 200 {
			t.Fatalf("login after restart: %d %s", r.status, r.raw)
		}
		if r := s.call(t, "GET", "/v1/auth/verify", at, nil); r.status != 200 {
			t.Fatalf("a live token failed after restart (signing key lost?): %d %s", r.status, r.raw)
		}
		if r := s.call(t, "GET", "/v1/auth/verify", other.str("accessToken"), nil); r.status != 401 {
			t.Fatalf("a revoked token verified after restart: %d", r.status)
		}
		if r := s.call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": rt}); r.status != 200 {
			t.Fatalf("refresh after restart: %d %s", r.status, r.raw)
		}
	})
}

func TestE2E_RefreshReuseAndParallel_SE04_SE05(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		s := start(t, env...)
		reg := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw})
		rt := reg.str("refreshToken")

		// 20 parallel refreshes of one token: exactly one wins, and its
		// successor stays live.
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []string
		gate := make(chan struct{})
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				r := s.call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": rt})
				if r.status >= 500 {
					t.Errorf("5xx: %d %s", r.status, r.raw)
				}
				if r.status == 200 {
					mu.Lock()
					winners = append(winners, r.str("refreshToken"))
					mu.Unlock()
				}
			}()
		}
		close(gate)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("%d parallel refreshes won, want 1", len(winners))
		}
		next := s.call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": winners[0]})
		if next.status != 200 {
			t.Fatalf("the one descendant is not live: %d %s", next.status, next.raw)
		}

		// A replay of a rotated token: 401, and the newest token dies too.
		if r := s.call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": winners[0]}); r.status != 401 || r.str("type") != "urn:usermgmt:problem:auth.invalid_refresh_token" {
			t.Fatalf("replay: %d %s", r.status, r.raw)
		}
		if r := s.call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": next.str("refreshToken")}); r.status != 401 {
			t.Fatalf("newest token after reuse: %d, want 401", r.status)
		}
		if r := s.call(t, "GET", "/v1/auth/verify", next.str("accessToken"), nil); r.status != 401 {
			t.Fatalf("access token of the reused family: %d, want 401", r.status)
		}
	})
}

func TestE2E_RefreshReuseTwoGenerations_SE11(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		s := start(t, env...)
		reg := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw})
		if reg.status != 201 {
			t.Fatalf("register: %d %s", reg.status, reg.raw)
		}
		// A thief with a copy of the owner's refresh token R1 rotates it
		// twice: R1 -> T2 -> T3.
		const thief = "thief/1.0"
		stolen := reg
		for range 2 {
			stolen = s.callAs(t, thief, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": stolen.str("refreshToken")})
			if stolen.status != 200 {
				t.Fatalf("thief's refresh: %d %s", stolen.status, stolen.raw)
			}
		}

		// The owner's stale token is answered exactly like a token that
		// never existed, and ends the session.
		random := s.call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": strings.Repeat("A", 43)})
		owner := s.call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": reg.str("refreshToken")})
		if owner.status != 401 || owner.status != random.status {
			t.Fatalf("owner's stale token: %d %s; a random token: %d", owner.status, owner.raw, random.status)
		}
		delete(owner.body, "requestId")
		delete(random.body, "requestId")
		a, _ := json.Marshal(owner.body)
		b, _ := json.Marshal(random.body)
		if string(a) != string(b) || owner.header.Get("WWW-Authenticate") != random.header.Get("WWW-Authenticate") {
			t.Fatalf("reuse answers differently from an unknown token:\n%s\n%s", a, b)
		}

		if r := s.callAs(t, thief, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": stolen.str("refreshToken")}); r.status != 401 {
			t.Fatalf("the thief's T3 after reuse: %d, want 401", r.status)
		}
		for who, at := range map[string]string{"owner": reg.str("accessToken"), "thief": stolen.str("accessToken")} {
			if r := s.call(t, "GET", "/v1/auth/verify", at, nil); r.status != 401 {
				t.Fatalf("the %s's access token still verifies: %d", who, r.status)
			}
		}
		// user.security_violation left through the outbox (to the log, without Kafka).
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(s.logs.String(), `"type":"user.security_violation"`) {
			if time.Now().After(deadline) {
				t.Fatalf("no user.security_violation was published:\n%s", s.logs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func TestE2E_ConcurrentRegistrationsAndLogins(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		s := start(t, env...)
		// 20 concurrent registrations of one email: exactly one 201 (IV-02);
		// the rest are 409, or 429 once the address's mail budget is spent
		// (LG-09).
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[int]int{}
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "same@example.com", "username": fmt.Sprintf("same%02d", i), "password": pw})
				mu.Lock()
				codes[r.status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[201] != 1 || codes[409]+codes[429] != 19 {
			t.Fatalf("statuses %v, want one 201 and nineteen 409 or 429", codes)
		}

		// 32 clients registering and logging in at once: no "database is
		// locked", no 5xx.
		codes = map[int]int{}
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				email := fmt.Sprintf("c%02d@example.com", i)
				r := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": email, "username": fmt.Sprintf("client%02d", i), "password": pw})
				l := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": email, "password": pw})
				mu.Lock()
				codes[r.status]++
				codes[l.status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[201] != 32 || codes[200] != 32 {
			t.Fatalf("statuses %v, want 32 × 201 and 32 × 200", codes)
		}
		if strings.Contains(s.logs.String(), "database is locked") || strings.Contains(s.logs.String(), "SQLITE_BUSY") {
			t.Fatalf("the store was locked:\n%s", s.logs)
		}
	})
}

func TestE2E_BootstrapAdmin(t *testing.T) {
	dir := t.TempDir()
	s := start(t, "USERMGMT_DATA_DIR="+dir, "USERMGMT_ADMIN_EMAIL=root@example.com", "USERMGMT_ADMIN_PASSWORD="+pw)
	r := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "root@example.com", "password": pw})
	if r.status != 200 || r.body["user"].(map[string]any)["role"] != "superadmin" {
		t.Fatalf("admin login: %d %s", r.status, r.raw)
	}
}

func TestE2E_BadConfigurationNamesTheVariable(t *testing.T) {
	cmd := exec.Command(serverBinary(t))
	cmd.Env = []string{"USERMGMT_ACCESS_TOKEN_TTL=2h", "USERMGMT_DATA_DIR=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "USERMGMT_ACCESS_TOKEN_TTL") {
		t.Fatalf("want a failure naming the variable, got %v:\n%s", err, out)
	}
}
