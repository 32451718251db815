package valkey

import (
	"net"
	"time"

	"github.com/valkey-io/valkey-go"
)

// netDialer bounds how long connecting may take, so a Valkey outage fails
// requests quickly (fail closed) instead of hanging them. KeepAlive is
// also valkey-go's idle ping interval: a connection that stops answering
// is dropped, and the answers cached on it with it, within KeepAlive plus
// the write timeout, even while every revocation check is a cache hit.
func netDialer() net.Dialer { return net.Dialer{Timeout: 2 * time.Second, KeepAlive: time.Second} }

// retryOnce retries a read once, at once, on a fresh connection: enough
// for a connection that broke (a server restart, a failover, an idle
// timeout). valkey-go's default retries reads until ctx ends, and the
// revocation check runs on every authenticated request, which must fail
// closed quickly instead.
func retryOnce(attempts int, _ valkey.Completed, _ error) time.Duration {
	if attempts > 1 {
		return -1
	}
	return 0
}
