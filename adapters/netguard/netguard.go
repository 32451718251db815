// Package netguard keeps a public listener serving when connections
// outnumber file descriptors (IV-05). Listener wraps a net.Listener:
// connections beyond a total cap, or beyond a cap per client address, are
// closed as soon as they are accepted, so they never hold a descriptor,
// unless a kept-alive connection lies idle within that cap: then the one
// idle longest is closed and the new one takes its place. An accept that
// fails for want of descriptors (EMFILE, ENFILE) is retried with backoff
// instead of ending the server; and a connection that sends nothing is cut
// off after a short first-byte timeout, whatever read deadline the HTTP
// server sets on it.
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

	"github.com/usermgmt/usermgmt/core/session"
)

// Reserve is the least number of descriptors the default cap keeps free of
// connections: the database pool, Valkey, Kafka, SQLite and mail files and
// the internal listeners need them while the public listener is full. The
// internal listeners (metrics, and pprof when enabled) take at most
// InternalMaxConns connections each, plus their listening sockets: 18 of
// the 64, which leaves the rest to a database pool of 8 to 16 (two to
// four cores), Valkey, Kafka and the files.
const Reserve = 64

// InternalMaxConns caps the connections of each internal listener: a
// scraper or a profiler needs one or two, and without a cap a flood of
// them would take the descriptors the public listener and the database
// need (IV-05).
const InternalMaxConns = 8

// DefaultIdleGrace is how long a kept-alive connection must have been idle
// before a new connection may take its place: a client's next request may
// be on its way just after an answer, and a second covers the round trip
// of any client worth serving.
const DefaultIdleGrace = time.Second

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
	ShedIdle          = "idle"               // an idle kept-alive connection made room for a new one
)

const (
	warnEvery    = time.Minute
	firstBackoff = 5 * time.Millisecond
	maxBackoff   = time.Second
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
	// IdleGrace is how long a connection must have been idle (its last
	// answer written, nothing read since) before a new connection at a
	// cap closes it to take its place. Zero is DefaultIdleGrace.
	IdleGrace time.Duration
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
	idleGrace          time.Duration
	epoch              time.Time // the clock of conn.idleSince
	exempt             []netip.Prefix
	log                *slog.Logger
	onShed             func(string)
	closed             chan struct{}
	closeOnce          sync.Once

	mu    sync.Mutex
	open  int
	perIP map[netip.Addr]int
	conns map[*conn]struct{} // the admitted connections: those counted in open

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
	if cfg.MaxConns < 0 || cfg.MaxConnsPerIP < 0 || cfg.FirstByteTimeout < 0 || cfg.IdleGrace < 0 {
		return nil, errors.New("netguard.New: caps, timeout and grace must not be negative")
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
	if cfg.IdleGrace == 0 {
		cfg.IdleGrace = DefaultIdleGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Listener{Listener: ln, maxConns: cfg.MaxConns, maxPerIP: cfg.MaxConnsPerIP, firstByte: cfg.FirstByteTimeout,
		idleGrace: cfg.IdleGrace, epoch: time.Now(), exempt: cfg.Exempt, log: cfg.Logger, onShed: cfg.OnShed,
		closed: make(chan struct{}), perIP: map[netip.Addr]int{}, conns: map[*conn]struct{}{}, warned: map[string]warning{}}, nil
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

// Accept returns the next connection within the caps. A connection over a
// cap takes the place of the idlest kept-alive connection within that cap
// or, with none idle, is closed here and never reaches the server. An
// accept that fails for want of descriptors is retried after a pause that
// doubles from 5 ms to 1 s, as net/http's Server does: the HTTP server
// would otherwise take it for a permanent error and stop serving.
// Meanwhile new connections wait in the kernel's backlog, holding no
// descriptor of ours.
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
// nil when a cap is full and no connection within it is idle.
//
// Kept-alive connections that idle after their answer would otherwise
// hold a full listener for the HTTP server's whole idle timeout while
// every new client is shed; closing an idle kept-alive connection is
// something HTTP lets a server do at any time (RFC 9112 9.3).
func (l *Listener) admit(c net.Conn) net.Conn {
	key, perIP := l.clientKey(c.RemoteAddr())
	gc := &conn{Conn: c, l: l, key: key, perIP: perIP, firstByteBy: time.Now().Add(l.firstByte)}
	l.mu.Lock()
	reason := ""
	addressFull := perIP && l.perIP[key] >= l.maxPerIP
	switch {
	case l.open >= l.maxConns:
		reason = ShedMaxConns
	case addressFull:
		reason = ShedMaxConnsPerIP
	}
	// At the address's cap only one of its own connections makes room.
	var idle *conn
	if reason != "" {
		if idle = l.idlest(key, addressFull); idle != nil {
			l.forget(idle)
			reason = ""
		}
	}
	if reason == "" {
		l.conns[gc] = struct{}{}
		l.open++
		if perIP {
			l.perIP[key]++
		}
	}
	l.mu.Unlock()
	if idle != nil {
		_ = idle.Conn.Close() // its slot is gc's already
		l.shed(ShedIdle, "idle kept-alive connection closed to admit a new one at a cap")
	}
	switch reason {
	case "":
		return l.guard(gc)
	case ShedMaxConns:
		l.shed(reason, "connection closed at accept: the listener is at its total cap", "maxConns", l.maxConns)
	default:
		l.shed(reason, "connection closed at accept: the client address is at its cap", "client", key, "maxConnsPerIP", l.maxPerIP)
	}
	_ = c.Close()
	return nil
}

// idlest is the admitted connection idle longest, and for at least the
// grace, among those of key when ownOnly is set; nil when none is. It
// scans every connection, but only when a cap is full. l.mu is held.
func (l *Listener) idlest(key netip.Addr, ownOnly bool) *conn {
	idleBy := l.now() - int64(l.idleGrace)
	var found *conn
	var since int64
	for c := range l.conns {
		if ownOnly && c.key != key {
			continue
		}
		if s := c.idleSince.Load(); s != 0 && s <= idleBy && (found == nil || s < since) {
			found, since = c, s
		}
	}
	return found
}

// now is the time since the listener was made, on the monotonic clock:
// the unit of conn.idleSince, never 0 once a connection has spoken.
func (l *Listener) now() int64 { return int64(time.Since(l.epoch)) }

// forget returns an admitted connection's slots, once: a connection
// closed to make room has given its slots to the new one already when
// its server closes it too. l.mu is held.
func (l *Listener) forget(c *conn) {
	if _, ok := l.conns[c]; !ok {
		return
	}
	delete(l.conns, c)
	l.open--
	if !c.perIP {
		return
	}
	if l.perIP[c.key]--; l.perIP[c.key] <= 0 {
		delete(l.perIP, c.key) // the map holds only addresses with open connections
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
	return session.ClientAddr(ip), true
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

// guard puts an admitted connection under the first-byte timeout.
func (l *Listener) guard(c *conn) net.Conn {
	if err := c.Conn.SetReadDeadline(c.firstByteBy); err != nil {
		// A connection that takes no deadline would escape the timeout:
		// refuse it rather than serve it unguarded.
		_ = c.Close()
		return nil
	}
	return c
}

// conn holds its read deadline to the first-byte deadline until the first
// byte arrives. The HTTP server sets its own read deadline before it reads
// a request (fasthttp: ReadTimeout, 15 s), which would otherwise replace
// the short one; after the first byte the server's deadlines apply as set.
// It also tracks whether it is idle, for admit to reclaim.
type conn struct {
	net.Conn
	l           *Listener
	key         netip.Addr // the address it counts against, when perIP
	perIP       bool
	firstByteBy time.Time
	spoke       atomic.Bool // a byte has arrived
	// idleSince is when (Listener.now) the last write of an answer ended
	// with nothing read after it: the connection waits for its client's
	// next request. 0 while a request is read or served, and before the
	// first answer: a connection that has not spoken is the first-byte
	// timeout's to close, not admit's.
	idleSince atomic.Int64

	mu     sync.Mutex
	wanted time.Time // the read deadline the server last asked for
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.idleSince.Load() != 0 {
		c.idleSince.Store(0)
	}
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
		c.l.shed(ShedFirstByte, "")
	}
	return n, err
}

// Write marks the connection idle from the end of the write: an HTTP/1.1
// server writes once it has read a request, so a connection whose last
// act is a write waits for its client. Two cases look idle without being
// so, each for a moment the grace covers: an interim 100 Continue until
// the body arrives (a round trip), and a request pipelined behind the one
// just answered, read with it, while it is served (fasthttp flushes its
// answers only once no request is left buffered, so this is net/http's
// internal listeners only, and pipelining clients are rare).
func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.idleSince.Store(c.l.now())
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
	c.l.mu.Lock()
	c.l.forget(c)
	c.l.mu.Unlock()
	return err
}
