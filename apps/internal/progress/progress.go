// Package progress shows how far a long job of the worker has come. On a
// terminal it is one line redrawn in place: a bar, the count, the rate and
// the time left. Anywhere else (a log file, a pipe, a CI job) it is a
// plain line every few seconds, since carriage returns would garble the
// log. Both end with a line that sums the job up.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Intervals between updates: a terminal redraws often enough to look
// alive; a log gets a line rarely enough to stay readable.
const (
	terminalEvery = 100 * time.Millisecond
	plainEvery    = 5 * time.Second
	barWidth      = 30
)

// Bar reports the progress of one job. It is safe for concurrent use.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	label    string
	unit     string
	total    int64 // 0: unknown
	done     int64
	start    time.Time
	last     time.Time // of the last update written
	drawn    bool      // a terminal line is on screen
	now      func() time.Time
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) //nolint:gosec // a descriptor fits an int
}

// New starts reporting the job label, counted in unit, to w: total is how
// many there are, 0 when unknown. It draws a bar when w is a terminal.
func New(w io.Writer, label, unit string, total int64) *Bar {
	return newBar(w, IsTerminal(w), label, unit, total, time.Now)
}

func newBar(w io.Writer, terminal bool, label, unit string, total int64, now func() time.Time) *Bar {
	b := &Bar{w: w, terminal: terminal, label: label, unit: unit, total: max(total, 0), start: now(), now: now}
	if !terminal {
		b.last = b.start // a log's first line comes after an interval, not at once
	}
	return b
}

// Set records that done are done, and updates the report when it is due.
func (b *Bar) Set(done int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = done
	every := plainEvery
	if b.terminal {
		every = terminalEvery
	}
	if t := b.now(); t.Sub(b.last) >= every {
		b.last = t
		b.write(b.line(t, false))
	}
}

// Println prints a message of its own (a record that failed, say) above
// the bar, which is drawn again below it.
func (b *Bar) Println(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
		b.drawn = false
	}
	fmt.Fprintln(b.w, msg)
	if b.terminal {
		b.write(b.line(b.now(), false))
	}
}

// Done ends the report with a line that sums the job up.
func (b *Bar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.write(b.line(b.now(), true))
	if b.terminal {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}

func (b *Bar) write(line string) {
	if b.terminal {
		fmt.Fprint(b.w, "\r"+line+"\x1b[K")
		b.drawn = true
		return
	}
	fmt.Fprintln(b.w, line)
}

// etaAfter is how long a job runs before its rate is worth an estimate.
const etaAfter = time.Second

// line is the report at t: with a bar on a terminal, in words elsewhere.
func (b *Bar) line(t time.Time, final bool) string {
	elapsed := t.Sub(b.start)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(b.done) / s
	}
	count := Count(b.done)
	if b.total > 0 {
		count += "/" + Count(b.total)
	}
	fields := []string{count + " " + b.unit}
	if b.total > 0 && !final {
		fields = append(fields, fmt.Sprintf("%d%%", min(100, b.done*100/b.total)))
	}
	fields = append(fields, Count(int64(rate))+"/s")
	switch {
	case final:
		fields = append(fields, "in "+clock(elapsed))
	case b.total > 0 && b.done < b.total && rate > 0 && elapsed >= etaAfter:
		left := time.Duration(float64(b.total-b.done) / rate * float64(time.Second))
		fields = append(fields, "ETA "+clock(left))
	case b.total > 0 && b.done < b.total:
		fields = append(fields, "ETA -:--")
	default:
		fields = append(fields, clock(elapsed)+" elapsed")
	}
	if !b.terminal {
		return b.label + ": " + strings.Join(fields, ", ")
	}
	head := b.label
	if b.total > 0 {
		head += "  " + bar(b.done, b.total)
	}
	return head + "  " + strings.Join(fields, "  ")
}

// bar draws done of total as [=====>    ].
func bar(done, total int64) string {
	filled := int(min(done, total) * barWidth / total)
	head := ""
	if filled < barWidth {
		head = ">"
	}
	return "[" + strings.Repeat("=", filled) + head + strings.Repeat(" ", max(0, barWidth-filled-len(head))) + "]"
}

// clock writes d as m:ss, or h:mm:ss from an hour on.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Count writes n with thousands separated by commas: 100,000.
func Count(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + Count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
