// Command gen writes the blocklist's password data: the ranked "passwords"
// frequency list that zxcvbn ships (most common first), one per line,
// gzip-compressed.
//
// It is a module of its own so that the dictionary module is pinned here and
// never enters the service's dependency graph or binary; the blocklist
// package embeds only the generated file. Run it with `go generate` in
// adapters/blocklist.
package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/trustelem/zxcvbn/frequency"
)

func main() {
	out := flag.String("out", "passwords.txt.gz", "output file")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	list := frequency.FrequencyLists["passwords"]
	if len(list) < 10000 {
		return fmt.Errorf("passwords list has %d entries, want at least 10000", len(list))
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	// A fixed header (no name, no mtime) keeps the output byte-identical
	// across runs, so regenerating shows no spurious diff.
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		f.Close()
		return fmt.Errorf("gzip: %w", err)
	}
	w := bufio.NewWriter(zw)
	for _, p := range list {
		if p == "" || strings.ContainsAny(p, "\r\n") {
			continue
		}
		if _, err := w.WriteString(p + "\n"); err != nil {
			f.Close()
			return fmt.Errorf("write: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("flush: %w", err)
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return fmt.Errorf("close gzip: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", out, err)
	}
	return nil
}
