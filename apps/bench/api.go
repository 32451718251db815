package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// client speaks the usermgmt HTTP API. Each call returns the response
// status; a transport failure is an error (status 0).
type client struct {
	http *http.Client
	base string
}

// newClient returns a client whose keep-alive pool holds a connection per
// worker, so a closed-loop run never pays for a new TCP connection.
func newClient(base string, maxWorkers int) *client {
	t := &http.Transport{
		MaxIdleConns:        2 * maxWorkers,
		MaxIdleConnsPerHost: 2 * maxWorkers,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &client{http: &http.Client{Transport: t, Timeout: 30 * time.Second}, base: base}
}

// tokens is the part of the auth and token responses the bench uses.
type tokens struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
}

// account is a user the bench registers.
type account struct {
	username, email, password string
}

func (c *client) register(ctx context.Context, a account) (tokens, int, error) {
	body := map[string]string{"email": a.email, "username": a.username, "password": a.password}
	var out tokens
	st, err := c.do(ctx, http.MethodPost, "/v1/auth/register", "", body, http.StatusCreated, &out)
	return out, st, err
}

func (c *client) login(ctx context.Context, a account) (tokens, int, error) {
	body := map[string]string{"identifier": a.username, "password": a.password}
	var out tokens
	st, err := c.do(ctx, http.MethodPost, "/v1/auth/login", "", body, http.StatusOK, &out)
	return out, st, err
}

func (c *client) refresh(ctx context.Context, refreshToken string) (tokens, int, error) {
	body := map[string]string{"refreshToken": refreshToken}
	var out tokens
	st, err := c.do(ctx, http.MethodPost, "/v1/auth/refresh", "", body, http.StatusOK, &out)
	return out, st, err
}

func (c *client) verify(ctx context.Context, accessToken string) (int, error) {
	return c.do(ctx, http.MethodGet, "/v1/auth/verify", accessToken, nil, http.StatusOK, nil)
}

func (c *client) healthz(ctx context.Context) (int, error) {
	return c.do(ctx, http.MethodGet, "/healthz", "", nil, http.StatusOK, nil)
}

// do sends one request and decodes a want-status response into out (when
// not nil). The body is always read to the end so the connection goes back
// to the pool.
func (c *client) do(ctx context.Context, method, path, bearer string, in any, want int, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want || out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: decode: %w", method, path, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// accounts makes unique accounts for one run. Usernames are a prefix,
// the run's random tag and a counter (digits); passwords are words and
// dashes only, so no password can contain a username or an email's local
// part (the password policy rejects that), and three random words out of
// a list keep them off the common-password list.
type accounts struct {
	tag      string
	password string
}

func newAccounts() (*accounts, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	words := []string{"amber", "falcon", "quartz", "meadow", "lantern", "harbor", "cobalt", "thistle",
		"ember", "juniper", "saffron", "glacier", "orchid", "tundra", "willow", "zephyr"}
	pick := make([]string, 3)
	for i := range pick {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(words))))
		if err != nil {
			return nil, err
		}
		pick[i] = words[n.Int64()]
	}
	return &accounts{tag: hex.EncodeToString(b), password: "bench-pass-" + strings.Join(pick, "-")}, nil
}

// make returns account n of kind (one letter: w for workers, r for the
// register route), e.g. w3fa9c1000007.
func (a *accounts) make(kind string, n int64) account {
	name := fmt.Sprintf("%s%s%07d", kind, a.tag, n)
	return account{username: name, email: name + "@bench.example.com", password: a.password}
}
