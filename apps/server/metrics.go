package main

import (
	"log/slog"
	"net/http"
	"time"
)

// serveMetrics serves /metrics on addr, an internal listener apart from the
// public API (IV-04).
func serveMetrics(addr string, h http.Handler, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Warn("metrics listener stopped", "addr", addr, "err", err)
	}
}
