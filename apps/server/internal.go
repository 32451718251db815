package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

// serveInternal serves h on addr, a listener apart from the public API
// (IV-04), until ctx ends; the returned wait blocks until it has shut down,
// so the process leaves no listener behind when it stops. The listener
// holds few connections and the server times out slow and idle ones
// (IV-05): their descriptors come out of the public listener's reserve.
func serveInternal(ctx context.Context, name, addr string, h http.Handler, log *slog.Logger) (wait func()) {
	log = log.With("listener", name)
	ln, err := usermgmt.ListenInternal(ctx, addr, log)
	if err != nil {
		log.Warn(name+" listener not started", "addr", addr, "err", err)
		return func() {}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		// pprof's profile and trace take ?seconds= (30 by default) before
		// they write, and push their own write deadline out by as much.
		WriteTimeout: 30 * time.Second, IdleTimeout: 30 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Warn(name+" listener stopped", "addr", addr, "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	return func() { <-done }
}

// metricsMux serves the Prometheus handler at /metrics.
func metricsMux(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	return mux
}

// pprofMux serves the runtime profiles for `go tool pprof`
// (USERMGMT_PPROF_ADDR, e.g. 127.0.0.1:6060; unset, nothing listens).
func pprofMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
