package main

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// servePprof serves the runtime profiles on addr (USERMGMT_PPROF_ADDR, e.g.
// 127.0.0.1:6060) for `go tool pprof`; unset, nothing listens.
func servePprof(addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "usermgmt server: pprof listener:", err)
	}
}
