package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/adapters/netguard"
	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

// listenerConfig is the public listener's configuration. Only this binary
// opens that listener, so only it reads these variables: a host that
// embeds the library serves the API on a listener of its own.
type listenerConfig struct {
	addr   string                  // USERMGMT_HTTP_ADDR
	limits usermgmt.ListenerLimits // USERMGMT_MAX_CONNS, USERMGMT_MAX_CONNS_PER_IP, USERMGMT_FIRST_BYTE_TIMEOUT
}

// listenerFromEnv reads the listener's configuration from getenv and
// validates it; errors name the variable and what is wrong with it.
func listenerFromEnv(getenv func(string) string) (listenerConfig, error) {
	// The connection caps must fit the open-file limit this process runs
	// under; where the system reports none, there is nothing to fit.
	nofile, _ := netguard.DescriptorLimit()
	return parseListener(getenv, nofile)
}

// parseListener is listenerFromEnv under an open-file limit of nofile (0:
// unknown).
func parseListener(getenv func(string) string, nofile int) (listenerConfig, error) {
	lc := listenerConfig{addr: ":3011", limits: usermgmt.ListenerLimits{FirstByteTimeout: netguard.DefaultFirstByteTimeout}}
	var errs []error
	if v := strings.TrimSpace(getenv("USERMGMT_HTTP_ADDR")); v != "" {
		lc.addr = v
	}
	const maxCap = 1 << 30
	capv := func(name string, dst *int) {
		if v := getenv(name); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n == 0 || n > maxCap {
				errs = append(errs, fmt.Errorf("%s: %q is not an integer from 1 to %d", name, v, maxCap))
				return
			}
			*dst = int(n)
		}
	}
	capv("USERMGMT_MAX_CONNS", &lc.limits.MaxConns)
	capv("USERMGMT_MAX_CONNS_PER_IP", &lc.limits.MaxConnsPerIP)
	if v := getenv("USERMGMT_FIRST_BYTE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("USERMGMT_FIRST_BYTE_TIMEOUT: %q is not a duration such as 15m or 720h", v))
		} else {
			lc.limits.FirstByteTimeout = d
		}
	}
	l := lc.limits
	if l.MaxConns > 0 && l.MaxConnsPerIP > l.MaxConns {
		errs = append(errs, fmt.Errorf("USERMGMT_MAX_CONNS_PER_IP: must not exceed USERMGMT_MAX_CONNS (%d)", l.MaxConns))
	}
	// Beyond the API's 15 s read timeout the first-byte timeout would never fire.
	if l.FirstByteTimeout < time.Second || l.FirstByteTimeout > 15*time.Second {
		errs = append(errs, fmt.Errorf("USERMGMT_FIRST_BYTE_TIMEOUT: must be between 1s and 15s, got %s", l.FirstByteTimeout))
	}
	errs = append(errs, fitConnCaps(l, nofile))
	return lc, errors.Join(errs...)
}

// fitConnCaps holds the connection caps below the open-file limit nofile
// (0: unknown, nothing to check). A cap that does not leave descriptors
// free lets accept fail with EMFILE before the cap sheds anything, and
// starves the database and the files of descriptors in a flood.
func fitConnCaps(l usermgmt.ListenerLimits, nofile int) error {
	if nofile <= 0 {
		return nil
	}
	if l.MaxConns > nofile-netguard.Reserve {
		return fmt.Errorf("USERMGMT_MAX_CONNS: %d leaves fewer than %d of the %d open files allowed (ulimit -n) to the database, Valkey, Kafka and files; lower it or raise the limit",
			l.MaxConns, netguard.Reserve, nofile)
	}
	if l.MaxConns > 0 {
		return nil // parseListener compares the per-address cap with it
	}
	total := netguard.DefaultMaxConns(nofile)
	if total < 1 {
		return fmt.Errorf("USERMGMT_MAX_CONNS: the open-file limit %d (ulimit -n) leaves no room for connections beside the %d kept for the database and files; raise it",
			nofile, netguard.Reserve)
	}
	if l.MaxConnsPerIP > total {
		return fmt.Errorf("USERMGMT_MAX_CONNS_PER_IP: %d exceeds the total cap %d (80%% of the open-file limit %d)", l.MaxConnsPerIP, total, nofile)
	}
	return nil
}

// listen opens the public listener on lc.addr behind svc's connection
// guards (IV-05).
func listen(ctx context.Context, svc *usermgmt.Service, lc listenerConfig) (net.Listener, error) {
	// tcp4, as Fiber's own Listen did: serving IPv6 too would be a change
	// of its own.
	var nlc net.ListenConfig
	ln, err := nlc.Listen(ctx, "tcp4", lc.addr)
	if err != nil {
		return nil, fmt.Errorf("USERMGMT_HTTP_ADDR: %w", err)
	}
	g, err := svc.Guard(ctx, ln, lc.limits)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("USERMGMT_MAX_CONNS, USERMGMT_MAX_CONNS_PER_IP: %w", err)
	}
	return g, nil
}
