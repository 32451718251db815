// Package telemetry holds the service's Prometheus metrics: HTTP requests by
// route and status, connections the public listener shed, the outbox
// relay's commit-to-ack latency, and the Go runtime. The registry is the
// service's own, never the global default, so a host that embeds usermgmt
// keeps control of its /metrics.
package telemetry

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the service's metric set.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	relay    *prometheus.HistogramVec
	parked   *prometheus.CounterVec
	shed     *prometheus.CounterVec
}

// New registers the metrics in a fresh registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usermgmt_http_requests_total", Help: "HTTP requests by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "usermgmt_http_request_duration_seconds", Help: "HTTP request latency by method and route template.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "route"}),
		relay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "usermgmt_outbox_commit_to_ack_seconds",
			Help:    "Time from an event's commit to the broker's acknowledgement, by event type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30},
		}, []string{"type"}),
	}
	m.parked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usermgmt_outbox_parked_total", Help: "Events taken out of the outbox after repeated publish failures: each needs an operator.",
	}, []string{"type"})
	m.shed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usermgmt_http_connections_shed_total",
		Help: "Connections the public listener closed (a cap was full, an idle one made room at a cap, or nothing was sent in time) and accepts that failed for want of file descriptors, by reason.",
	}, []string{"reason"})
	m.reg.MustRegister(m.requests, m.duration, m.relay, m.parked, m.shed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveRequest counts one HTTP request. route is the route template
// (/v1/users/:id), never the raw path, so labels stay bounded.
func (m *Metrics) ObserveRequest(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
}

// ObserveShed counts a connection the public listener shed; reason is one
// of netguard's Shed* constants, a fixed set.
func (m *Metrics) ObserveShed(reason string) { m.shed.WithLabelValues(reason).Inc() }

// ObservePublished records an event's commit-to-ack latency.
func (m *Metrics) ObservePublished(typ string, latency time.Duration) {
	m.relay.WithLabelValues(typ).Observe(latency.Seconds())
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveParked counts an event the relay gave up on.
func (m *Metrics) ObserveParked(typ string) { m.parked.WithLabelValues(typ).Inc() }

// WatchBacklog exports the relay's lag, read from backlog at each scrape:
// how many events wait and how old the oldest is. Alert on both.
func (m *Metrics) WatchBacklog(backlog func(ctx context.Context) (int, time.Time, error), now func() time.Time) {
	m.reg.MustRegister(&backlogCollector{read: backlog, now: now,
		pending: prometheus.NewDesc("usermgmt_outbox_pending", "Events in the outbox waiting to be published.", nil, nil),
		age:     prometheus.NewDesc("usermgmt_outbox_oldest_pending_age_seconds", "Age of the oldest event waiting to be published.", nil, nil),
	})
}

type backlogCollector struct {
	read         func(ctx context.Context) (int, time.Time, error)
	now          func() time.Time
	pending, age *prometheus.Desc
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.pending; ch <- c.age }

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, oldest, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.pending, err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = c.now().Sub(oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}
