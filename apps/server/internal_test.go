package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServeInternal_StopsWithTheServer: an internal listener (metrics,
// pprof) shuts down when the server's context ends, leaving its port free.
func TestServeInternal_StopsWithTheServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	wait := serveInternal(ctx, "test", addr, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the listener never came up: %v", err)
		}
	}
	cancel()
	wait()
	again, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the port is still held after shutdown: %v", err)
	}
	_ = again.Close()
}
