// Package telemetry holds the service's Prometheus metrics: HTTP requests by
// route and status, the outbox relay's commit-to-ack latency, and the Go
// runtime. The registry is the service's own, never the global default, so
// a host that embeds usermgmt keeps control of its /metrics.
package telemetry

import (
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
	m.reg.MustRegister(m.requests, m.duration, m.relay,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveRequest counts one HTTP request. route is the route template
// (/v1/users/:id), never the raw path, so labels stay bounded.
func (m *Metrics) ObserveRequest(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
}

// ObservePublished records an event's commit-to-ack latency.
func (m *Metrics) ObservePublished(typ string, latency time.Duration) {
	m.relay.WithLabelValues(typ).Observe(latency.Seconds())
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
