package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestPlain(t *testing.T) {
	var buf bytes.Buffer
	c := &fakeClock{time.Unix(1000, 0)}
	b := newBar(&buf, false, "import", "users", 100_000, c.now)
	c.t = c.t.Add(time.Second)
	b.Set(1_000) // within the first interval: nothing
	c.t = c.t.Add(5 * time.Second)
	b.Set(30_000)
	c.t = c.t.Add(time.Second)
	b.Set(40_000) // within the interval: nothing
	b.Println("line 7: email: must be a valid email address")
	c.t = c.t.Add(3 * time.Second)
	b.Set(100_000)
	b.Done()
	want := "import: 30,000/100,000 users, 30%, 5,000/s, ETA 0:14\n" +
		"line 7: email: must be a valid email address\n" +
		"import: 100,000/100,000 users, 10,000/s, in 0:10\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if strings.ContainsAny(buf.String(), "\r\x1b") {
		t.Error("control characters in a plain report")
	}
}

func TestTerminal(t *testing.T) {
	var buf bytes.Buffer
	c := &fakeClock{time.Unix(1000, 0)}
	b := newBar(&buf, true, "import", "users", 200, c.now)
	b.Set(1) // drawn at once, too early to estimate
	c.t = c.t.Add(2 * time.Second)
	b.Set(100)
	b.Println("line 3: failed")
	c.t = c.t.Add(2 * time.Second)
	b.Set(200)
	b.Done()
	out := buf.String()
	for _, want := range []string{
		"\rimport  [>                             ]  1/200 users  0%  0/s  ETA -:--\x1b[K",
		"\rimport  [===============>              ]  100/200 users  50%  50/s  ETA 0:02\x1b[K",
		"\r\x1b[Kline 3: failed\n",
		"\rimport  [==============================]  200/200 users  50/s  in 0:04\x1b[K\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in %q", want, out)
		}
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("the report does not end its line: %q", out)
	}
}

func TestUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	c := &fakeClock{time.Unix(1000, 0)}
	b := newBar(&buf, false, "export", "users", 0, c.now)
	c.t = c.t.Add(10 * time.Second)
	b.Set(1234)
	if got, want := buf.String(), "export: 1,234 users, 123/s, 0:10 elapsed\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
}
