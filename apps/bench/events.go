package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// eventsTopic is the server's default topic.
const eventsTopic = "user-events"

// arrivals records when the consumer saw each event id.
type arrivals struct {
	mu   sync.Mutex
	seen map[string]time.Time
	data map[string]string // event id -> the displayName it carries (profile updates)
	cond *sync.Cond
}

func newArrivals() *arrivals {
	a := &arrivals{seen: map[string]time.Time{}, data: map[string]string{}}
	a.cond = sync.NewCond(&a.mu)
	return a
}

// consume reads the topic from the start until ctx ends.
func (a *arrivals) consume(ctx context.Context, brokers []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(eventsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10*time.Millisecond))
	if err != nil {
		return err
	}
	go func() {
		defer cl.Close()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			now := time.Now()
			a.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				var env struct {
					ID   string `json:"id"`
					Data struct {
						Changes map[string]any `json:"changes"`
					} `json:"data"`
				}
				if json.Unmarshal(r.Value, &env) == nil {
					a.seen[env.ID] = now
					if name, ok := env.Data.Changes["displayName"].(string); ok {
						a.data[name] = env.ID
					}
				}
			})
			a.cond.Broadcast()
			a.mu.Unlock()
		}
	}()
	return nil
}

// waitFor blocks until n events matching keep have arrived or ctx ends,
// and returns the time the last of them arrived.
func (a *arrivals) waitFor(ctx context.Context, n int, keep func(id string) bool) (time.Time, error) {
	stop := context.AfterFunc(ctx, func() { a.mu.Lock(); a.cond.Broadcast(); a.mu.Unlock() })
	defer stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		count, last := 0, time.Time{}
		for id, at := range a.seen {
			if keep(id) {
				count++
				if at.After(last) {
					last = at
				}
			}
		}
		if count >= n {
			return last, nil
		}
		if err := ctx.Err(); err != nil {
			return time.Time{}, fmt.Errorf("%d of %d events arrived: %w", count, n, err)
		}
		a.cond.Wait()
	}
}

// runEvents measures the outbox relay on Postgres against kfake, an
// in-process Kafka: commit-to-consume latency of profile updates (an upper
// bound of commit-to-ack: it adds the request before the commit and the
// consumer's fetch after the ack), and relay throughput over a backlog.
func runEvents(ctx context.Context, opt options, rep *report) error {
	admin, err := openPostgres(ctx, opt.postgres)
	if err != nil {
		rep.skip("event relay on Postgres", "Postgres unreachable")
		return nil
	}
	defer admin.Close()
	name := fmt.Sprintf("usermgmt_bench_ev_%d", os.Getpid())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = admin.ExecContext(dctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}()
	dbURL, err := withDatabase(opt.postgres, name)
	if err != nil {
		return err
	}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, eventsTopic))
	if err != nil {
		return fmt.Errorf("kfake: %w", err)
	}
	defer kc.Close()
	dir, err := os.MkdirTemp("", "usermgmt-bench-ev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	progress("starting the server on Postgres with Kafka (kfake)")
	srv, err := startServer(ctx, "events", opt.server, filepath.Join(dir, "server.log"), []string{
		"USERMGMT_DATABASE_URL=" + dbURL, "USERMGMT_AUTO_MIGRATE=on", "USERMGMT_DATA_DIR=" + filepath.Join(dir, "data"), benchEncryptionKey,
		"USERMGMT_KAFKA_BROKERS=" + kc.ListenAddrs()[0], "USERMGMT_METRICS_ADDR=off", "USERMGMT_LOG_LEVEL=warn"})
	if err != nil {
		return err
	}
	defer srv.stop()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	arr := newArrivals()
	if err := arr.consume(cctx, kc.ListenAddrs()); err != nil {
		return err
	}

	progress("measuring commit-to-consume latency of profile updates")
	lat, err := eventLatency(ctx, opt, srv, arr)
	if err != nil {
		return err
	}
	progress("measuring relay throughput over a backlog of 50,000 events")
	rate, err := relayThroughput(ctx, dbURL, arr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nEvents on Postgres through kfake\n")
	fmt.Fprintf(stdout, "  commit-to-consume (upper bound of commit-to-ack), %d updates: p50 %s, p99 %s\n",
		len(lat), fmtDur(pctOf(lat, 50)), fmtDur(pctOf(lat, 99)))
	fmt.Fprintf(stdout, "  relay throughput over a 50,000-event backlog: %.0f events/s\n", rate)
	rep.below("event commit-to-ack p99 (upper bound: request to consumer)", pctOf(lat, 99), 50*time.Millisecond,
		fmt.Sprintf("%d profile updates from 4 workers; consumer polls with a 10ms fetch wait", len(lat)))
	rep.atLeast("relay throughput on Postgres, events/s", rate, 5000, "%.0f", "50,000 pending rows relayed to kfake; batch of 500 per claim")
	return nil
}

// eventLatency sends profile updates and times each from the request to
// the consumer's receipt of its user.updated event.
func eventLatency(ctx context.Context, opt options, srv *server, arr *arrivals) ([]time.Duration, error) {
	const workers = 4
	acc, err := newAccounts()
	if err != nil {
		return nil, err
	}
	c := newClient(srv.base, workers)
	tokens := make([]string, workers)
	for i := range tokens {
		tok, st, err := c.register(ctx, acc.make("ev", int64(i)))
		if err != nil {
			return nil, fmt.Errorf("register: %w", err)
		}
		if st != 201 {
			return nil, fmt.Errorf("register: status %d", st)
		}
		tokens[i] = tok.AccessToken
	}
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var wg sync.WaitGroup
	end := time.Now().Add(time.Duration(opt.blocks) * opt.duration / 2)
	for w := range workers {
		wg.Go(func() {
			for n := 0; time.Now().Before(end) && ctx.Err() == nil; n++ {
				display := fmt.Sprintf("bench %d-%d", w, n)
				t0 := time.Now()
				st, err := c.do(ctx, "PATCH", "/v1/users/me", tokens[w], map[string]string{"displayName": display}, 200, nil)
				if err != nil || st != 200 {
					continue
				}
				mu.Lock()
				sent[display] = t0
				mu.Unlock()
				time.Sleep(5 * time.Millisecond) // a steady trickle, not a flood
			}
		})
	}
	wg.Wait()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var lat []time.Duration
	for display, t0 := range sent {
		for {
			arr.mu.Lock()
			id, ok := arr.data[display]
			at := arr.seen[id]
			arr.mu.Unlock()
			if ok {
				lat = append(lat, at.Sub(t0))
				break
			}
			if wctx.Err() != nil {
				return nil, fmt.Errorf("the event of update %q never arrived", display)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return lat, nil
}

// relayThroughput inserts a backlog straight into the outbox and times the
// relay draining it to the consumer.
func relayThroughput(ctx context.Context, dbURL string, arr *arrivals) (float64, error) {
	const backlog = 50_000
	db, err := openPostgres(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `INSERT INTO outbox (id, type, subject, payload, created_at)
		SELECT 'backlog-' || g, 'user.updated', 'user-' || (g % 1000),
			convert_to('{"id":"backlog-' || g || '"}', 'UTF8'), now()
		FROM generate_series(1, $1) AS g`, backlog)
	if err != nil {
		return 0, fmt.Errorf("insert backlog: %w", err)
	}
	t0 := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	last, err := arr.waitFor(wctx, backlog, func(id string) bool { return strings.HasPrefix(id, "backlog-") })
	if err != nil {
		return 0, err
	}
	return backlog / last.Sub(t0).Seconds(), nil
}

func pctOf(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}
