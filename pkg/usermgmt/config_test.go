package usermgmt

import (
	"strings"
	"testing"
	"time"
)

// TestConfig_ConnectionCaps_IV05: the connection caps fit below the
// open-file limit, the per-address cap below the total, and a bad value
// stops the server with an error naming its variable.
func TestConfig_ConnectionCaps_IV05(t *testing.T) {
	cfg, err := fromEnv(func(string) string { return "" }, 1024)
	if err != nil || cfg.MaxConns != 0 || cfg.MaxConnsPerIP != 0 || cfg.FirstByteTimeout != 5*time.Second {
		t.Fatalf("defaults: caps %d/%d derived at Listen, first byte %s; %v", cfg.MaxConns, cfg.MaxConnsPerIP, cfg.FirstByteTimeout, err)
	}
	cfg, err = fromEnv(func(k string) string {
		return map[string]string{"USERMGMT_MAX_CONNS": "960", "USERMGMT_MAX_CONNS_PER_IP": "960", "USERMGMT_FIRST_BYTE_TIMEOUT": "10s"}[k]
	}, 1024)
	if err != nil || cfg.MaxConns != 960 || cfg.MaxConnsPerIP != 960 || cfg.FirstByteTimeout != 10*time.Second {
		t.Fatalf("explicit values: %d/%d %s; %v", cfg.MaxConns, cfg.MaxConnsPerIP, cfg.FirstByteTimeout, err)
	}
	if _, err := fromEnv(func(k string) string { return map[string]string{"USERMGMT_MAX_CONNS": "1000000"}[k] }, 0); err != nil {
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
		_, err := fromEnv(func(k string) string { return tc.env[k] }, tc.nofile)
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%v under a limit of %d: %v, want an error naming %s", tc.env, tc.nofile, err, tc.name)
		}
	}
	bad := DefaultConfig()
	bad.MaxConns = -1
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "USERMGMT_MAX_CONNS") {
		t.Errorf("a negative cap in code: %v", err)
	}
}
