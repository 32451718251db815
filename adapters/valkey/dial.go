package valkey

import (
	"net"
	"time"
)

// netDialer bounds how long connecting may take, so a Valkey outage fails
// requests quickly (fail closed) instead of hanging them.
func netDialer() net.Dialer { return net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second} }
