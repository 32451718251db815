package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/text"
)

// Headers a dead-lettered record carries besides the original ones, so a
// replay tool and an operator see where it came from and why it failed
// without a side table.
const (
	HeaderOrigTopic     = "x-orig-topic"
	HeaderOrigPartition = "x-orig-partition"
	HeaderOrigOffset    = "x-orig-offset"
	HeaderEventID       = "x-event-id"
	HeaderError         = "x-error"
	HeaderAttempts      = "x-attempts"
	HeaderFirstFailedAt = "x-first-failed-at"
)

const (
	// maxPollRecords bounds a batch: BlockRebalanceOnPoll holds every
	// rebalance until the batch is done, so a small batch keeps the group
	// responsive even when some records need retries.
	maxPollRecords = 100
	// maxBackoff caps the doubling retry delay so a long outage is still
	// probed every few seconds.
	maxBackoff = 5 * time.Second
	// maxErrorHeader keeps one huge error message from bloating every
	// dead-letter record (and hitting the broker's message size limit).
	maxErrorHeader = 1024
	// commitTimeout bounds one synchronous offset commit; a commit that
	// does not finish is retried with the next batch, or the records are
	// redelivered, which idempotent handlers tolerate.
	commitTimeout = 10 * time.Second
	// dlqDeliveryTimeout bounds one dead-letter write so a dead broker
	// surfaces as an error the retry loop logs, instead of a silent hang.
	dlqDeliveryTimeout = 30 * time.Second
)

// Message is one consumed record, copied out of the Kafka client's types so
// handlers stay independent of franz-go.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	// Headers holds the record headers; if a key repeats, the last wins.
	Headers map[string]string
	// EventID is the ce_id header, else the JSON "id" string field of Value
	// if Value parses, else "". Handlers dedupe on it: redeliveries happen.
	EventID string
}

// Handler applies a message's effect. It must be idempotent because the
// consumer is at-least-once: a crash, a failed commit or a rebalance
// redelivers records whose effect already happened. The usermgmt handler
// records event ids in the same DB transaction as the effect.
//
// A nil error means the effect is durable and the offset may be committed.
// Wrap errors that retrying cannot fix with Permanent (or return an
// errs.Invalid error) so the message goes to the dead-letter topic at once.
// The context ends when the consumer stops; a handler should then abort
// and return, and its record is redelivered later.
type Handler func(ctx context.Context, m Message) error

// permanentError marks an error as not worth retrying.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks an error retrying cannot fix (a payload that fails its
// schema, say): the message goes to the dead-letter topic at once instead of
// holding its partition through every retry. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err should skip retries: it is true for
// Permanent errors and for errors whose errs.KindOf is errs.Invalid, since
// input that breaks a domain rule breaks it on every attempt.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var p *permanentError
	return errors.As(err, &p) || errs.KindOf(err) == errs.Invalid
}

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	Brokers []string
	// Group is the consumer group: its members share the partitions, and
	// its committed offsets are where a restarted member resumes.
	Group  string
	Topics []string
	// MaxAttempts is how many times a handler is tried per message before
	// the message is dead-lettered (default 5).
	MaxAttempts int
	// Backoff is the first retry delay; it doubles per attempt, capped at
	// 5s (default 100ms). Dead-letter writes retry on the same schedule.
	Backoff time.Duration
	// DLQSuffix names dead-letter topics: a message from topic T goes to
	// T+DLQSuffix (default ".dlq"). The topics must exist or be
	// auto-created by the broker; until they do, dead-lettering retries
	// and the partition waits.
	DLQSuffix string
	Logger    *slog.Logger
}

// Consumer reads a consumer group's topics and calls a Handler per record,
// at least once: an offset is committed only after the record's effect is
// durable or the record is durably in the dead-letter topic. Records of one
// partition are handled in order, one at a time.
type Consumer struct {
	cl  *kgo.Client
	h   Handler
	cfg ConsumerConfig
	log *slog.Logger

	// pending holds, per partition, the last finished record whose offset
	// is not yet committed (a commit failed). The next commit retries it,
	// or OnPartitionsRevoked commits it before the partition moves.
	mu      sync.Mutex
	pending map[topicPartition]*kgo.Record

	runMu     sync.Mutex
	cancelRun context.CancelFunc // of the Run in progress, if any
	runDone   chan struct{}      // closed when that Run returns
	closed    bool
	closeOnce sync.Once
}

type topicPartition struct {
	topic     string
	partition int32
}

// NewConsumer validates cfg and creates the client. It connects lazily:
// it succeeds while the brokers are down, and Run waits for them.
func NewConsumer(cfg ConsumerConfig, h Handler) (*Consumer, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("kafka: no brokers")
	case cfg.Group == "":
		return nil, errors.New("kafka: no consumer group")
	case len(cfg.Topics) == 0:
		return nil, errors.New("kafka: no topics to consume")
	case h == nil:
		return nil, errors.New("kafka: no handler")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 100 * time.Millisecond
	}
	if cfg.DLQSuffix == "" {
		cfg.DLQSuffix = ".dlq"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Consumer{h: h, cfg: cfg, log: cfg.Logger, pending: map[topicPartition]*kgo.Record{}}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.Group),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		// A new group starts at the oldest record: skipping history would
		// silently lose events published before the first deploy.
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()),
		// Offsets are committed by hand, only after the effect (4.3).
		// Autocommit would commit records whose handler has not finished.
		kgo.DisableAutoCommit(),
		// No rebalance between a poll and its commit, so a member never
		// commits partitions it no longer owns or rewinds another
		// member's commit.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
		kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) {
			c.log.Info("kafka: a rebalance waits for the current batch to finish")
		}),
		// Dead-letter writes: acks from all in-sync replicas (idempotence
		// needs it; stated so no one lowers it), no lingering because each
		// write is synchronous, and a bounded wait so a dead broker shows.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(dlqDeliveryTimeout),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka: client: %w", err)
	}
	c.cl = cl
	return c, nil
}

// Run consumes until ctx ends, then commits what it finished and returns
// nil. A record whose handler was interrupted is not committed, so the group
// redelivers it. Run leaves the partitions assigned until Close; call Close
// after Run returns so other members take them over at once.
func (c *Consumer) Run(ctx context.Context) error {
	ctx, err := c.startRun(ctx)
	if err != nil {
		return err
	}
	defer c.endRun()
	for {
		fs := c.cl.PollRecords(ctx, maxPollRecords)
		if fs.IsClientClosed() {
			c.cl.AllowRebalance()
			return errors.New("kafka: consumer closed")
		}
		fs.EachError(func(topic string, partition int32, err error) {
			if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
				return
			}
			c.log.Warn("kafka: fetch", "topic", topic, "partition", partition, "err", err)
		})
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			if !c.process(ctx, r) {
				// Stop the whole batch: committing later records of this
				// partition would skip r, and ctx ending stops the rest.
				break
			}
			c.finished(r)
		}
		c.commit(ctx)
		// Only now may the group rebalance: every finished record of the
		// batch is committed (or pending, for OnPartitionsRevoked).
		c.cl.AllowRebalance()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// Close stops a running Run, waits for it, then leaves the group so the
// partitions move to other members without waiting for a session timeout.
// It is safe to call more than once.
func (c *Consumer) Close() {
	c.closeOnce.Do(func() {
		c.runMu.Lock()
		c.closed = true
		cancel, done := c.cancelRun, c.runDone
		c.runMu.Unlock()
		if cancel != nil {
			cancel()
			<-done
		}
		// Run always allows rebalancing before it returns; allowing here
		// too covers a Run that panicked mid-batch, so leaving cannot hang.
		c.cl.CloseAllowingRebalance()
	})
}

func (c *Consumer) startRun(ctx context.Context) (context.Context, error) {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	if c.closed {
		return nil, errors.New("kafka: consumer closed")
	}
	if c.runDone != nil {
		return nil, errors.New("kafka: consumer already running")
	}
	ctx, cancel := context.WithCancel(ctx)
	c.cancelRun, c.runDone = cancel, make(chan struct{})
	return ctx, nil
}

func (c *Consumer) endRun() {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	c.cancelRun()
	close(c.runDone)
	c.cancelRun, c.runDone = nil, nil
}

// process handles r with retries, dead-lettering it when the error is
// permanent or the attempts run out. It reports whether r is finished (its
// offset may be committed); false means ctx ended first.
func (c *Consumer) process(ctx context.Context, r *kgo.Record) bool {
	m := toMessage(r)
	var attempts int
	var firstFailed time.Time
	// Transient failures are retried with a doubling delay; a permanent
	// one, or the last allowed attempt, goes to the dead-letter topic.
	retry := retrypolicy.NewBuilder[any]().
		AbortIf(func(_ any, err error) bool { return IsPermanent(err) }).
		WithMaxAttempts(c.cfg.MaxAttempts).
		WithBackoff(c.cfg.Backoff, maxBackoff).
		ReturnLastFailure().
		OnRetryScheduled(func(e failsafe.ExecutionScheduledEvent[any]) {
			c.log.Warn("kafka: handler failed; retrying",
				"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "event_id", m.EventID,
				"attempt", e.Attempts(), "retry_in", e.Delay, "err", e.LastError())
		}).
		Build()
	err := failsafe.With[any](retry).WithContext(ctx).RunWithExecution(func(e failsafe.Execution[any]) error {
		attempts = e.Attempts()
		err := c.call(ctx, m)
		if err != nil && firstFailed.IsZero() {
			firstFailed = time.Now()
		}
		return err
	})
	if err == nil {
		return true
	}
	if ctx.Err() != nil {
		// The error is likely the cancellation itself; either way the
		// effect may not have happened, so leave it for redelivery.
		c.log.Info("kafka: stopped while handling; the record will be redelivered",
			"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "event_id", m.EventID)
		return false
	}
	return c.deadLetter(ctx, r, m.EventID, err, attempts, firstFailed)
}

// call runs the handler, turning a panic into a permanent error: a message
// that crashes the handler would otherwise crash the service on every
// redelivery and stop its partition for good.
func (c *Consumer) call(ctx context.Context, m Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("kafka: handler panicked", "topic", m.Topic, "partition", m.Partition,
				"offset", m.Offset, "panic", p, "stack", string(debug.Stack()))
			err = Permanent(fmt.Errorf("handler panic: %v", p))
		}
	}()
	return c.h(ctx, m)
}

// deadLetter writes r to its dead-letter topic, retrying until the broker
// acknowledges it: the source offset is committed only after that, so a
// failed record is never dropped. It returns false only if ctx ends first.
func (c *Consumer) deadLetter(ctx context.Context, r *kgo.Record, eventID string, cause error, attempts int, firstFailed time.Time) bool {
	dlq := r.Topic + c.cfg.DLQSuffix
	headers := dlqHeaders(r, eventID, cause, attempts, firstFailed)
	forever := retrypolicy.NewBuilder[any]().
		WithMaxRetries(-1).
		WithBackoff(c.cfg.Backoff, maxBackoff).
		OnRetryScheduled(func(e failsafe.ExecutionScheduledEvent[any]) {
			c.log.Error("kafka: dead-letter write failed; retrying", "topic", r.Topic, "partition", r.Partition,
				"offset", r.Offset, "dlq", dlq, "retry_in", e.Delay, "err", e.LastError())
		}).
		Build()
	err := failsafe.With[any](forever).WithContext(ctx).Run(func() error {
		// A fresh record per try: the client stamps fields on a record it
		// produces, so a failed one is not reused.
		out := &kgo.Record{Topic: dlq, Key: r.Key, Value: r.Value, Headers: headers}
		return c.cl.ProduceSync(ctx, out).FirstErr()
	})
	if err != nil { // only the end of ctx stops the retries
		c.log.Info("kafka: stopped while dead-lettering; the record will be redelivered",
			"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "event_id", eventID)
		return false
	}
	c.log.Error("kafka: message dead-lettered", "topic", r.Topic, "partition", r.Partition,
		"offset", r.Offset, "event_id", eventID, "dlq", dlq, "attempts", attempts, "err", cause)
	return true
}

// dlqHeaders returns the original headers, minus any stale x- headers of an
// earlier dead-lettering (a replayed record that failed again), followed by
// this failure's.
func dlqHeaders(r *kgo.Record, eventID string, cause error, attempts int, firstFailed time.Time) []kgo.RecordHeader {
	ours := []kgo.RecordHeader{
		{Key: HeaderOrigTopic, Value: []byte(r.Topic)},
		{Key: HeaderOrigPartition, Value: []byte(strconv.FormatInt(int64(r.Partition), 10))},
		{Key: HeaderOrigOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		{Key: HeaderEventID, Value: []byte(eventID)},
		{Key: HeaderError, Value: []byte(text.Truncate(cause.Error(), maxErrorHeader))},
		{Key: HeaderAttempts, Value: []byte(strconv.Itoa(attempts))},
		{Key: HeaderFirstFailedAt, Value: []byte(firstFailed.UTC().Format(time.RFC3339))},
	}
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+len(ours))
	for _, h := range r.Headers {
		if !isDLQHeader(h.Key) {
			hs = append(hs, h)
		}
	}
	return append(hs, ours...)
}

func isDLQHeader(key string) bool {
	switch key {
	case HeaderOrigTopic, HeaderOrigPartition, HeaderOrigOffset, HeaderEventID,
		HeaderError, HeaderAttempts, HeaderFirstFailedAt:
		return true
	}
	return false
}

// finished records r as done, to be committed with its batch.
func (c *Consumer) finished(r *kgo.Record) {
	c.mu.Lock()
	c.pending[topicPartition{r.Topic, r.Partition}] = r
	c.mu.Unlock()
}

// commit synchronously commits the last finished record of every partition.
// It runs before AllowRebalance, so every partition in pending is still
// owned. On failure the records stay pending: the next batch's commit or
// OnPartitionsRevoked retries, and at worst they are redelivered.
func (c *Consumer) commit(ctx context.Context) {
	c.mu.Lock()
	recs := make([]*kgo.Record, 0, len(c.pending))
	for _, r := range c.pending {
		recs = append(recs, r)
	}
	c.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	// Not ctx itself: on shutdown it has ended, and the finished prefix of
	// the batch should still be committed.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := c.cl.CommitRecords(cctx, recs...); err != nil {
		c.log.Warn("kafka: offset commit failed; retrying with the next batch", "err", err)
		return
	}
	c.mu.Lock()
	for _, r := range recs {
		k := topicPartition{r.Topic, r.Partition}
		if c.pending[k] == r {
			delete(c.pending, k)
		}
	}
	c.mu.Unlock()
}

// onRevoked commits what is pending for the revoked partitions while they
// are still ours (franz-go's advice with DisableAutoCommit), then forgets
// them so nothing is ever committed for a partition after it moved.
func (c *Consumer) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	recs := c.take(revoked)
	if len(recs) == 0 {
		return
	}
	if err := cl.CommitRecords(ctx, recs...); err != nil {
		c.log.Warn("kafka: commit on revoke failed; the records will be redelivered", "err", err)
	}
}

// onLost forgets pending records of lost partitions: the member is no
// longer in the generation, so a commit would fail or, worse, land after
// the new owner's.
func (c *Consumer) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	if recs := c.take(lost); len(recs) > 0 {
		c.log.Warn("kafka: partitions lost with uncommitted offsets; the records will be redelivered", "partitions", lost)
	}
}

func (c *Consumer) take(tps map[string][]int32) []*kgo.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	var recs []*kgo.Record
	for topic, ps := range tps {
		for _, p := range ps {
			k := topicPartition{topic, p}
			if r, ok := c.pending[k]; ok {
				recs = append(recs, r)
				delete(c.pending, k)
			}
		}
	}
	return recs
}

func toMessage(r *kgo.Record) Message {
	m := Message{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Key: r.Key, Value: r.Value,
		Headers: make(map[string]string, len(r.Headers)),
	}
	for _, h := range r.Headers {
		m.Headers[h.Key] = string(h.Value)
	}
	m.EventID = m.Headers[HeaderID]
	if m.EventID == "" {
		var body struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(r.Value, &body) == nil {
			m.EventID = body.ID
		}
	}
	return m
}
