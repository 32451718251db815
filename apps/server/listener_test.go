package main

import (
	"strings"
	"testing"
	"time"
)

// TestListenerConfig_ConnectionCaps_IV05: the connection caps fit below
// the open-file limit, the per-address cap below the total, and a bad
// value stops the server with an error naming its variable.
func TestListenerConfig_ConnectionCaps_IV05(t *testing.T) {
	lc, err := parseListener(func(string) string { return "" }, 1024)
	l := lc.limits
	if err != nil || lc.addr != ":3011" || l.MaxConns != 0 || l.MaxConnsPerIP != 0 || l.FirstByteTimeout != 5*time.Second {
		t.Fatalf("defaults: %s, caps %d/%d derived by Guard, first byte %s; %v", lc.addr, l.MaxConns, l.MaxConnsPerIP, l.FirstByteTimeout, err)
	}
	lc, err = parseListener(func(k string) string {
		return map[string]string{"USERMGMT_HTTP_ADDR": "127.0.0.1:8080", "USERMGMT_MAX_CONNS": "960", "USERMGMT_MAX_CONNS_PER_IP": "960",
			"USERMGMT_FIRST_BYTE_TIMEOUT": "10s"}[k]
	}, 1024)
	l = lc.limits
	if err != nil || lc.addr != "127.0.0.1:8080" || l.MaxConns != 960 || l.MaxConnsPerIP != 960 || l.FirstByteTimeout != 10*time.Second {
		t.Fatalf("explicit values: %s %d/%d %s; %v", lc.addr, l.MaxConns, l.MaxConnsPerIP, l.FirstByteTimeout, err)
	}
	if _, err := parseListener(func(k string) string { return map[string]string{"USERMGMT_MAX_CONNS": "1000000"}[k] }, 0); err != nil {
		t.Fatalf("with no limit to fit, any cap goes: %v", err)
	}
	for _, tc := range []struct {
		env    map[string]string
		nofile int
		name   string
	}{
		{map[string]string{"USERMGMT_MAX_CONNS": "961"}, 1024, "USERMGMT_MAX_CONNS"},
		{map[string]string{"USERMGMT_MAX_CONNS": "0"}, 1024, "USERMGMT_MAX_CONNS"},
		{map[string]string{"USERMGMT_MAX_CONNS": "many"}, 1024, "USERMGMT_MAX_CONNS"},
		{map[string]string{}, 64, "USERMGMT_MAX_CONNS"},
		{map[string]string{"USERMGMT_MAX_CONNS": "200", "USERMGMT_MAX_CONNS_PER_IP": "201"}, 1024, "USERMGMT_MAX_CONNS_PER_IP"},
		{map[string]string{"USERMGMT_MAX_CONNS_PER_IP": "821"}, 1024, "USERMGMT_MAX_CONNS_PER_IP"},
		{map[string]string{"USERMGMT_MAX_CONNS_PER_IP": "-1"}, 1024, "USERMGMT_MAX_CONNS_PER_IP"},
		{map[string]string{"USERMGMT_FIRST_BYTE_TIMEOUT": "500ms"}, 1024, "USERMGMT_FIRST_BYTE_TIMEOUT"},
		{map[string]string{"USERMGMT_FIRST_BYTE_TIMEOUT": "1m"}, 1024, "USERMGMT_FIRST_BYTE_TIMEOUT"},
		{map[string]string{"USERMGMT_FIRST_BYTE_TIMEOUT": "soon"}, 1024, "USERMGMT_FIRST_BYTE_TIMEOUT"},
	} {
		_, err := parseListener(func(k string) string { return tc.env[k] }, tc.nofile)
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%v under a limit of %d: %v, want an error naming %s", tc.env, tc.nofile, err, tc.name)
		}
	}
}
