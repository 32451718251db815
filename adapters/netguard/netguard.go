// Package netguard keeps a public listener serving when connections
// outnumber file descriptors (IV-05). Listener wraps a net.Listener:
// connections beyond a total cap, or beyond a cap per client address, are
// closed as soon as they are accepted, so they never hold a descriptor; an
// accept that fails for want of descriptors (EMFILE, ENFILE) is retried
// with backoff instead of ending the server; and a connection that sends
// nothing is cut off after a short first-byte timeout, whatever read
// deadline the HTTP server sets on it.
package netguard

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Reserve is the least number of descriptors the default cap keeps free of
// connections: the database pool, Valkey, Kafka, SQLite and mail files and
// the internal listeners need them while the public listener is full.
const Reserve = 64

// DefaultFirstByteTimeout is how long a new connection may stay silent. A
// client that opens a connection means to use it at once; the longer
// ReadTimeout of the HTTP server is for slow requests, not for none.
const DefaultFirstByteTimeout = 5 * time.Second

// unknownLimitMaxConns is the default cap where the system reports no
// descriptor limit to derive one from.
const unknownLimitMaxConns = 65536

// Reasons a connection was shed, as passed to Config.OnShed.
const (
	ShedMaxConns      = "max_conns"          // the total cap was reached
	ShedMaxConnsPerIP = "max_conns_per_ip"   // the client address's cap was reached
	ShedDescriptors   = "descriptors"        // accept failed for want of descriptors
	ShedFirstByte     = "first_byte_timeout" // the connection sent nothing in time
)

const (
	warnEvery      = time.Minute
	firstBackoff   = 5 * time.Millisecond
	maxBackoff     = time.Second
	ipv6ClientBits = 64 // one IPv6 client holds a whole /64
)

// Config sets the guards. Zero caps and timeout take the defaults.
type Config struct {
	// MaxConns caps the connections open at once. Zero derives it from
	// the descriptor limit (DefaultMaxConns).
	MaxConns int
	// MaxConnsPerIP caps the connections of one client address (an IPv6
	// client counts by its /64). Zero is DefaultMaxConnsPerIP(MaxConns).
	MaxConnsPerIP int
	// FirstByteTimeout closes a connection that has sent nothing this
	// long after it was accepted.
	FirstByteTimeout time.Duration
	// Exempt peers (trusted proxies, which carry many clients' requests)
	// are held only to the total cap.
	Exempt []netip.Prefix
	// Logger receives the warnings, at most one per reason a minute.
	Logger *slog.Logger
	// OnShed, if set, learns each shed connection or failed accept (a
	// metric); reason is one of the Shed* constants.
	OnShed func(reason string)
}

// errLimitUnknown is DescriptorLimit's error where the system has no
// per-process descriptor limit to read.
var errLimitUnknown = errors.New("netguard: the descriptor limit is unknown on this system")

// DefaultMaxConns is the total cap for a process allowed nofile open
// descriptors: 80% of them, keeping at least Reserve free. It is not
// positive when the limit leaves no room for connections.
func DefaultMaxConns(nofile int) int {
	return nofile - max(Reserve, nofile/5)
}

// DefaultMaxConnsPerIP is the per-address cap under a total of maxConns: a
// quarter of it, so it takes several addresses to fill the listener, and
// at most 1024, which still lets a NAT or a gateway not configured as a
// trusted proxy carry many clients.
func DefaultMaxConnsPerIP(maxConns int) int {
	return max(1, min(maxConns/4, 1024))
}

// Listener is a net.Listener with the guards of Config.
type Listener struct {
	net.Listener
	maxConns, maxPerIP int
	firstByte          time.Duration
	exempt             []netip.Prefix
	log                *slog.Logger
	onShed             func(string)
	closed             chan struct{}
	closeOnce          sync.Once

	mu    sync.Mutex
	open  int
	perIP map[netip.Addr]int

	warnMu sync.Mutex
	warned map[string]warning
}

// warning is the rate limit of one reason's log line.
type warning struct {
	last       time.Time
	suppressed int
}

// New wraps ln. It reads the descriptor limit when cfg.MaxConns is zero.
func New(ln net.Listener, cfg Config) (*Listener, error) {
	if ln == nil {
		return nil, errors.New("netguard.New: nil listener")
	}
	if cfg.MaxConns < 0 || cfg.MaxConnsPerIP < 0 || cfg.FirstByteTimeout < 0 {
		return nil, errors.New("netguard.New: caps and timeout must not be negative")
	}
	if cfg.MaxConns == 0 {
		nofile, err := DescriptorLimit()
		switch {
		case errors.Is(err, errLimitUnknown):
			cfg.MaxConns = unknownLimitMaxConns
		case err != nil:
			return nil, err
		default:
			if cfg.MaxConns = DefaultMaxConns(nofile); cfg.MaxConns < 1 {
				return nil, fmt.Errorf("netguard.New: the descriptor limit %d leaves no room for connections beside the %d reserved", nofile, Reserve)
			}
		}
	}
	if cfg.MaxConnsPerIP == 0 {
		cfg.MaxConnsPerIP = DefaultMaxConnsPerIP(cfg.MaxConns)
	}
	if cfg.MaxConnsPerIP > cfg.MaxConns {
		return nil, fmt.Errorf("netguard.New: MaxConnsPerIP %d exceeds MaxConns %d", cfg.MaxConnsPerIP, cfg.MaxConns)
	}
	if cfg.FirstByteTimeout == 0 {
		cfg.FirstByteTimeout = DefaultFirstByteTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Listener{Listener: ln, maxConns: cfg.MaxConns, maxPerIP: cfg.MaxConnsPerIP, firstByte: cfg.FirstByteTimeout,
		exempt: cfg.Exempt, log: cfg.Logger, onShed: cfg.OnShed, closed: make(chan struct{}),
		perIP: map[netip.Addr]int{}, warned: map[string]warning{}}, nil
}

// Limits reports the caps in force, defaults resolved.
func (l *Listener) Limits() (maxConns, maxConnsPerIP int, firstByte time.Duration) {
	return l.maxConns, l.maxPerIP, l.firstByte
}

// Open reports how many accepted connections are open.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Accept returns the next connection within the caps. Connections over a
// cap are closed here and never reach the server. An accept that fails
// for want of descriptors is retried after a pause that doubles from 5 ms
// to 1 s, as net/http's Server does: the HTTP server would otherwise take
// it for a permanent error and stop serving. Meanwhile new connections wait
// in the kernel's backlog, holding no descriptor of ours.
func (l *Listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !outOfDescriptors(err) {
				return nil, err
			}
			delay = min(max(2*delay, firstBackoff), maxBackoff)
			l.shed(ShedDescriptors, "accept failed for want of file descriptors; retrying", "err", err, "retryIn", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.closed: // the next Accept reports the closed listener
				t.Stop()
			}
			continue
		}
		delay = 0
		if gc := l.admit(c); gc != nil {
			return gc, nil
		}
	}
}

// Close stops Accept, a pause for descriptors included; accepted
// connections stay open.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// outOfDescriptors reports whether an accept failed because the process
// or the system ran out of descriptors or socket memory: conditions that
// pass as connections close.
func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// admit counts c against the caps and wraps it, or closes it and returns
// nil when a cap is full.
func (l *Listener) admit(c net.Conn) net.Conn {
	key, perIP := l.clientKey(c.RemoteAddr())
	l.mu.Lock()
	reason := ""
	switch {
	case l.open >= l.maxConns:
		reason = ShedMaxConns
	case perIP && l.perIP[key] >= l.maxPerIP:
		reason = ShedMaxConnsPerIP
	default:
		l.open++
		if perIP {
			l.perIP[key]++
		}
	}
	l.mu.Unlock()
	if reason == "" {
		return l.wrap(c, key, perIP)
	}
	_ = c.Close()
	if reason == ShedMaxConns {
		l.shed(reason, "connection closed at accept: the listener is at its total cap", "maxConns", l.maxConns)
	} else {
		l.shed(reason, "connection closed at accept: the client address is at its cap", "client", key, "maxConnsPerIP", l.maxPerIP)
	}
	return nil
}

// release returns an admitted connection's slots.
func (l *Listener) release(key netip.Addr, perIP bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if !perIP {
		return
	}
	if l.perIP[key]--; l.perIP[key] <= 0 {
		delete(l.perIP, key) // the map holds only addresses with open connections
	}
}

// clientKey is the address a connection counts against, and whether it is
// capped per address at all: exempt peers and peers without an IP address
// (a Unix socket) are not.
func (l *Listener) clientKey(a net.Addr) (netip.Addr, bool) {
	var ip netip.Addr
	switch a := a.(type) {
	case nil:
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		}
	}
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return netip.Addr{}, false
	}
	for _, p := range l.exempt {
		if p.Contains(ip) {
			return netip.Addr{}, false
		}
	}
	if ip.Is6() {
		// A single IPv6 client is routinely given a /64; counting its
		// addresses one by one would make the cap meaningless.
		ip = netip.PrefixFrom(ip, ipv6ClientBits).Masked().Addr()
	}
	return ip, true
}

// shed reports a shed connection to OnShed and, at most once a minute per
// reason, to the log with the number of occurrences it left out: a flood
// must not become a flood of log lines.
func (l *Listener) shed(reason, msg string, args ...any) {
	if l.onShed != nil {
		l.onShed(reason)
	}
	if msg == "" {
		return
	}
	now := time.Now()
	l.warnMu.Lock()
	w := l.warned[reason]
	if !w.last.IsZero() && now.Sub(w.last) < warnEvery {
		w.suppressed++
		l.warned[reason] = w
		l.warnMu.Unlock()
		return
	}
	l.warned[reason] = warning{last: now}
	l.warnMu.Unlock()
	l.log.Warn(msg, append(args, "reason", reason, "sinceLastWarning", w.suppressed)...)
}

// wrap returns c with the first-byte timeout and the release of its slots
// on Close.
func (l *Listener) wrap(c net.Conn, key netip.Addr, perIP bool) net.Conn {
	gc := &conn{Conn: c, firstByteBy: time.Now().Add(l.firstByte),
		release:  func() { l.release(key, perIP) },
		timedOut: func() { l.shed(ShedFirstByte, "") }}
	if err := c.SetReadDeadline(gc.firstByteBy); err != nil {
		// A connection that takes no deadline would escape the timeout:
		// refuse it rather than serve it unguarded.
		_ = gc.Close()
		return nil
	}
	return gc
}

// conn holds its read deadline to the first-byte deadline until the first
// byte arrives. The HTTP server sets its own read deadline before it reads
// a request (fasthttp: ReadTimeout, 15 s), which would otherwise replace
// the short one; after the first byte the server's deadlines apply as set.
type conn struct {
	net.Conn
	firstByteBy time.Time
	release     func()
	timedOut    func()
	closeOnce   sync.Once
	spoke       atomic.Bool // a byte has arrived

	mu     sync.Mutex
	wanted time.Time // the read deadline the server last asked for
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.spoke.Load() {
		return n, err
	}
	if n > 0 {
		c.mu.Lock()
		c.spoke.Store(true)
		derr := c.Conn.SetReadDeadline(c.wanted)
		c.mu.Unlock()
		if err == nil && derr != nil {
			err = derr
		}
		return n, err
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.timedOut()
	}
	return n, err
}

func (c *conn) SetReadDeadline(t time.Time) error {
	if c.spoke.Load() {
		return c.Conn.SetReadDeadline(t)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spoke.Load() {
		return c.Conn.SetReadDeadline(t)
	}
	c.wanted = t
	if t.IsZero() || t.After(c.firstByteBy) {
		t = c.firstByteBy
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *conn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetWriteDeadline(t), c.SetReadDeadline(t))
}

// Close closes the connection and frees its slots, once.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(c.release)
	return err
}
