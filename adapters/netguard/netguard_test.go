package netguard_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/netguard"
)

// fakeListener hands out what the test queues: connections or errors.
type fakeListener struct {
	queue  chan any // net.Conn or error
	closed chan struct{}
	once   sync.Once
}

func newFakeListener() *fakeListener {
	return &fakeListener{queue: make(chan any, 64), closed: make(chan struct{})}
}

func (f *fakeListener) Accept() (net.Conn, error) {
	select {
	case <-f.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case v := <-f.queue:
		if err, ok := v.(error); ok {
			return nil, err
		}
		return v.(net.Conn), nil
	case <-f.closed:
		return nil, net.ErrClosed
	}
}

func (f *fakeListener) Close() error   { f.once.Do(func() { close(f.closed) }); return nil }
func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3011} }

// peerConn is the server side of a pipe that claims to come from addr.
type peerConn struct {
	net.Conn
	addr net.Addr
}

func (p peerConn) RemoteAddr() net.Addr { return p.addr }

// dialFrom queues a connection from ip and returns the client's end.
func (f *fakeListener) dialFrom(t *testing.T, ip string) net.Conn {
	t.Helper()
	server, client := net.Pipe()
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	f.queue <- peerConn{Conn: server, addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}
	return client
}

// acceptWithin accepts one connection or fails the test after a generous bound.
func acceptWithin(t *testing.T, l net.Listener) net.Conn {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() { c, err := l.Accept(); ch <- result{c, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("accept: %v", r.err)
		}
		return r.c
	case <-time.After(10 * time.Second):
		t.Fatal("accept did not return")
		return nil
	}
}

// closedByServer reports whether the server closed the client's end.
func closedByServer(t *testing.T, client net.Conn) bool {
	t.Helper()
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := client.Read(make([]byte, 1))
	return errors.Is(err, io.EOF)
}

type recorder struct {
	mu      sync.Mutex
	reasons []string
}

func (r *recorder) add(reason string) {
	r.mu.Lock()
	r.reasons = append(r.reasons, reason)
	r.mu.Unlock()
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.reasons, ",")
}

func (r *recorder) count(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.reasons {
		if x == reason {
			n++
		}
	}
	return n
}

// TestListener_CapsPerIPAndTotal_IV05: connections over the per-address or
// the total cap are closed at accept and never reach the server; a closed
// connection frees its slots.
func TestListener_CapsPerIPAndTotal_IV05(t *testing.T) {
	f := newFakeListener()
	rec := &recorder{}
	l, err := netguard.New(f, netguard.Config{MaxConns: 4, MaxConnsPerIP: 2, OnShed: rec.add})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f.dialFrom(t, "192.0.2.1")
	f.dialFrom(t, "192.0.2.1")
	third := f.dialFrom(t, "192.0.2.1")
	f.dialFrom(t, "192.0.2.2")
	f.dialFrom(t, "192.0.2.2")
	fifth := f.dialFrom(t, "192.0.2.3")
	var served []net.Conn
	for range 4 {
		served = append(served, acceptWithin(t, l))
	}
	if !closedByServer(t, third) {
		t.Error("a third connection from one address was not closed at accept")
	}
	if n := rec.count(netguard.ShedMaxConnsPerIP); n != 1 {
		t.Errorf("per-IP sheds: %d, want 1", n)
	}

	// The next Accept meets the fifth connection with the total cap full.
	next := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			next <- c
		}
	}()
	if !closedByServer(t, fifth) {
		t.Error("a connection over the total cap was not closed at accept")
	}
	if n := rec.count(netguard.ShedMaxConns); n != 1 {
		t.Errorf("total-cap sheds: %d, want 1", n)
	}
	_ = served[0].Close() // frees a slot, and one of 192.0.2.1's
	_ = served[0].Close() // a second Close frees nothing more
	f.dialFrom(t, "192.0.2.4")
	select {
	case c := <-next:
		if c.RemoteAddr().String() != "192.0.2.4:40000" {
			t.Errorf("accepted %v", c.RemoteAddr())
		}
		served[0] = c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted after a slot was freed")
	}
	if n := l.Open(); n != 4 {
		t.Errorf("open connections: %d, want 4", n)
	}

	// 192.0.2.1 has one connection left, so it may open another once the
	// total has room.
	_ = served[0].Close()
	f.dialFrom(t, "192.0.2.1")
	if c := acceptWithin(t, l); c.RemoteAddr().String() != "192.0.2.1:40000" {
		t.Errorf("accepted %v after a slot was freed", c.RemoteAddr())
	}
}

// TestListener_ExemptAndIPv6Prefix_IV05: trusted proxies and peers without
// an IP address are held only to the total cap, and an IPv6 client counts
// by its /64.
func TestListener_ExemptAndIPv6Prefix_IV05(t *testing.T) {
	f := newFakeListener()
	rec := &recorder{}
	l, err := netguard.New(f, netguard.Config{MaxConns: 10, MaxConnsPerIP: 1, OnShed: rec.add,
		Exempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 3 {
		f.dialFrom(t, "10.1.2.3")
	}
	for range 3 {
		acceptWithin(t, l)
	}
	server, client := net.Pipe() // no address at all: held only to the total
	defer client.Close()
	f.queue <- peerConn{Conn: server}
	acceptWithin(t, l)
	f.dialFrom(t, "2001:db8:1:2::1")
	other := f.dialFrom(t, "2001:db8:1:2::ffff") // same /64
	f.dialFrom(t, "2001:db8:1:3::1")             // another /64
	if c := acceptWithin(t, l); c.RemoteAddr().String() != "[2001:db8:1:2::1]:40000" {
		t.Fatalf("accepted %v", c.RemoteAddr())
	}
	if c := acceptWithin(t, l); c.RemoteAddr().String() != "[2001:db8:1:3::1]:40000" {
		t.Fatalf("accepted %v, want the other /64", c.RemoteAddr())
	}
	if !closedByServer(t, other) || rec.count(netguard.ShedMaxConnsPerIP) != 1 {
		t.Fatalf("a second address of one /64 was not held to the cap: %v", rec)
	}
}

// answer has the server's end of a connection read a request and write
// its answer, as an HTTP server does; the connection is then idle.
func answer(t *testing.T, client, server net.Conn) {
	t.Helper()
	const res = "HTTP/1.1 204 No Content\r\n\r\n"
	go func() { _, _ = client.Write([]byte("GET / HTTP/1.1\r\n\r\n")) }()
	if _, err := server.Read(make([]byte, 64)); err != nil {
		t.Fatalf("read the request: %v", err)
	}
	read := make(chan error, 1)
	go func() { _, err := io.ReadFull(client, make([]byte, len(res))); read <- err }()
	if _, err := server.Write([]byte(res)); err != nil {
		t.Fatalf("write the answer: %v", err)
	}
	if err := <-read; err != nil {
		t.Fatalf("read the answer: %v", err)
	}
}

// stillOpen reports whether the client's end is still open, waiting
// briefly for a close in flight.
func stillOpen(t *testing.T, client net.Conn) bool {
	t.Helper()
	_ = client.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err := client.Read(make([]byte, 1))
	_ = client.SetReadDeadline(time.Time{})
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// TestListener_ReclaimsTheIdlestAtTheCap_IV05: kept-alive connections that
// idle after an answer used to hold the listener full for the server's
// idle timeout while every new client was shed. At the total cap a new
// connection now closes the one idle longest (its answer written, nothing
// read since, for at least the grace) and is admitted; a connection in the
// middle of a request is never closed, nor is one that has not spoken (the
// first-byte timeout is for those); with none idle, the new one is shed.
func TestListener_ReclaimsTheIdlestAtTheCap_IV05(t *testing.T) {
	f := newFakeListener()
	rec := &recorder{}
	const grace = 50 * time.Millisecond
	l, err := netguard.New(f, netguard.Config{MaxConns: 3, MaxConnsPerIP: 3, IdleGrace: grace, OnShed: rec.add})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	older, newer, busy := f.dialFrom(t, "192.0.2.1"), f.dialFrom(t, "192.0.2.2"), f.dialFrom(t, "192.0.2.3")
	olderS, newerS, busyS := acceptWithin(t, l), acceptWithin(t, l), acceptWithin(t, l)
	answer(t, older, olderS)
	time.Sleep(10 * time.Millisecond)
	answer(t, newer, newerS)
	// busy's request has arrived and is being served: no answer yet.
	go func() { _, _ = busy.Write([]byte("POST /v1/auth/login HTTP/1.1\r\n")) }()
	if _, err := busyS.Read(make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * grace)

	f.dialFrom(t, "192.0.2.4")
	if c := acceptWithin(t, l); c.RemoteAddr().String() != "192.0.2.4:40000" {
		t.Fatalf("accepted %v", c.RemoteAddr())
	}
	if !closedByServer(t, older) {
		t.Fatal("the connection idle longest was not closed")
	}
	if !stillOpen(t, newer) || !stillOpen(t, busy) {
		t.Fatal("a connection idle for less long, or busy, was closed")
	}
	f.dialFrom(t, "192.0.2.5")
	acceptWithin(t, l)
	if !closedByServer(t, newer) {
		t.Fatal("the idle connection left was not closed for the next one")
	}
	// Left: busy, and two that have not spoken. Nothing is idle.
	last := f.dialFrom(t, "192.0.2.6")
	next := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			next <- c
		}
	}()
	if !closedByServer(t, last) {
		t.Fatal("a connection over the cap was admitted with none idle")
	}
	if !stillOpen(t, busy) {
		t.Fatal("the busy connection was closed")
	}
	if rec.count(netguard.ShedIdle) != 2 || rec.count(netguard.ShedMaxConns) != 1 || l.Open() != 3 {
		t.Fatalf("sheds %v, open %d", rec, l.Open())
	}
	// A reclaimed connection's slot went to the new one: closing it
	// again frees nothing more.
	_ = olderS.Close()
	if l.Open() != 3 {
		t.Fatalf("open %d after closing a reclaimed connection, want 3", l.Open())
	}
	_ = l.Close()
	<-time.After(10 * time.Millisecond)
	select {
	case c := <-next:
		t.Fatalf("accepted %v", c.RemoteAddr())
	default:
	}
}

// TestListener_ReclaimsWithinTheAddressAndAfterTheGrace_IV05: at its
// address's cap a new connection closes an idle one of the same address,
// never another's, and a connection idle for less than the grace is not
// closed at all: its client's next request may be on the way.
func TestListener_ReclaimsWithinTheAddressAndAfterTheGrace_IV05(t *testing.T) {
	for _, tc := range []struct {
		name    string
		grace   time.Duration
		reclaim bool
	}{{"past the grace", time.Millisecond, true}, {"within the grace", time.Hour, false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeListener()
			rec := &recorder{}
			l, err := netguard.New(f, netguard.Config{MaxConns: 10, MaxConnsPerIP: 2, IdleGrace: tc.grace, OnShed: rec.add})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			other, own1, own2 := f.dialFrom(t, "192.0.2.9"), f.dialFrom(t, "192.0.2.1"), f.dialFrom(t, "192.0.2.1")
			otherS, own1S, own2S := acceptWithin(t, l), acceptWithin(t, l), acceptWithin(t, l)
			answer(t, other, otherS) // idle longest, but another address's
			answer(t, own1, own1S)
			answer(t, own2, own2S)
			time.Sleep(20 * time.Millisecond)
			fresh := f.dialFrom(t, "192.0.2.1")
			if tc.reclaim {
				acceptWithin(t, l)
				if !closedByServer(t, own1) || !stillOpen(t, own2) || !stillOpen(t, other) {
					t.Fatal("not the address's own idlest connection was closed")
				}
				return
			}
			go func() { _, _ = l.Accept() }()
			if !closedByServer(t, fresh) || !stillOpen(t, own1) || rec.count(netguard.ShedMaxConnsPerIP) != 1 {
				t.Fatalf("a connection idle for less than the grace was closed: %v", rec)
			}
		})
	}
}

func emfile() error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
}

// TestListener_RetriesOutOfDescriptors_IV05: EMFILE and ENFILE on accept
// are waited out, not returned (fasthttp stops serving on any error it
// does not take for temporary), and logged once, not per retry.
func TestListener_RetriesOutOfDescriptors_IV05(t *testing.T) {
	f := newFakeListener()
	rec := &recorder{}
	var logs syncBuffer
	l, err := netguard.New(f, netguard.Config{MaxConns: 10, OnShed: rec.add,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 3 {
		f.queue <- emfile()
	}
	f.queue <- &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.ENFILE)}
	f.dialFrom(t, "192.0.2.1")
	if c := acceptWithin(t, l); c.RemoteAddr().String() != "192.0.2.1:40000" {
		t.Fatalf("accepted %v", c.RemoteAddr())
	}
	if n := rec.count(netguard.ShedDescriptors); n != 4 {
		t.Errorf("descriptor failures counted: %d, want 4", n)
	}
	if n := strings.Count(logs.String(), "file descriptors"); n != 1 {
		t.Errorf("%d warnings for one episode, want 1:\n%s", n, logs.String())
	}

	// Any other error is the server's to judge.
	boom := errors.New("boom")
	f.queue <- boom
	if _, err := l.Accept(); !errors.Is(err, boom) {
		t.Fatalf("accept: %v, want boom", err)
	}
}

// TestListener_CloseEndsTheBackoff_IV05: a listener closed while waiting
// for descriptors returns from Accept, so shutdown is not held up.
func TestListener_CloseEndsTheBackoff_IV05(t *testing.T) {
	f := newFakeListener()
	failing := make(chan string, 256)
	l, err := netguard.New(f, netguard.Config{MaxConns: 10, OnShed: func(r string) {
		select {
		case failing <- r:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	for range 64 {
		f.queue <- emfile()
	}
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	select {
	case <-failing:
	case <-time.After(10 * time.Second):
		t.Fatal("accept never met the failure")
	}
	_ = l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("accept after close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("accept kept retrying after close")
	}
}

// TestConn_FirstByteTimeout_IV05: a connection that sends nothing is cut
// off after the first-byte timeout even when the server asks for a longer
// read deadline (fasthttp sets ReadTimeout before it reads a request) or
// none at all.
func TestConn_FirstByteTimeout_IV05(t *testing.T) {
	for name, deadline := range map[string]time.Time{"long deadline": time.Now().Add(time.Hour), "no deadline": {}} {
		t.Run(name, func(t *testing.T) {
			l, rec := tcpListener(t, 100*time.Millisecond)
			client, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			c := acceptWithin(t, l)
			defer c.Close()
			if err := c.SetReadDeadline(deadline); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := c.Read(make([]byte, 1)); done <- err }()
			select {
			case err := <-done:
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("read: %v, want a timeout", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a silent connection outlived the first-byte timeout by far")
			}
			if rec.count(netguard.ShedFirstByte) != 1 {
				t.Fatalf("first-byte timeouts counted: %v", rec)
			}
		})
	}
}

// TestConn_ServerDeadlinesRuleAfterTheFirstByte_IV05: once a request has
// begun, the first-byte timeout no longer applies.
func TestConn_ServerDeadlinesRuleAfterTheFirstByte_IV05(t *testing.T) {
	l, _ := tcpListener(t, 100*time.Millisecond)
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c := acceptWithin(t, l)
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("G")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := c.Read(buf); err != nil {
		t.Fatalf("first byte: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // past the first-byte deadline, well before the server's
	if _, err := client.Write([]byte("ET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(buf); err != nil {
		t.Fatalf("read after the first byte: %v, want the server's minute", err)
	}
}

func tcpListener(t *testing.T, firstByte time.Duration) (*netguard.Listener, *recorder) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	l, err := netguard.New(inner, netguard.Config{MaxConns: 8, FirstByteTimeout: firstByte, OnShed: rec.add})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, rec
}

// TestDefaults_IV05: the derived caps stay below the descriptor limit.
func TestDefaults_IV05(t *testing.T) {
	for _, tc := range []struct{ nofile, total, perIP int }{
		{256, 192, 48}, {1024, 820, 205}, {20000, 16000, 1024}, {100, 36, 9},
	} {
		if got := netguard.DefaultMaxConns(tc.nofile); got != tc.total {
			t.Errorf("DefaultMaxConns(%d) = %d, want %d", tc.nofile, got, tc.total)
		}
		if got := netguard.DefaultMaxConnsPerIP(tc.total); got != tc.perIP {
			t.Errorf("DefaultMaxConnsPerIP(%d) = %d, want %d", tc.total, got, tc.perIP)
		}
	}
	if got := netguard.DefaultMaxConns(netguard.Reserve); got > 0 {
		t.Errorf("a limit of %d leaves %d for connections, want none", netguard.Reserve, got)
	}
	nofile, err := netguard.DescriptorLimit()
	if err != nil {
		t.Skip(err)
	}
	l, err := netguard.New(newFakeListener(), netguard.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if total, _, _ := l.Limits(); total != netguard.DefaultMaxConns(nofile) || total >= nofile {
		t.Fatalf("derived cap %d under a limit of %d", total, nofile)
	}
	if _, err := netguard.New(newFakeListener(), netguard.Config{MaxConns: 2, MaxConnsPerIP: 3}); err == nil {
		t.Fatal("a per-address cap above the total accepted")
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
