package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"linli/store"
)

// metrics is every Prometheus series linli exports. Counters are fed by
// the packages' observer hooks; gauges of database state are read at scrape
// time, so they are right even after a restart.
type metrics struct {
	reg        *prometheus.Registry
	inbound    *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	failures   *prometheus.CounterVec
	flows      *prometheus.CounterVec
	rejections *prometheus.CounterVec
	sms        *prometheus.CounterVec
}

func newMetrics(st *store.Store, log *slog.Logger) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.inbound = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "linli_inbound_messages_total", Help: "Messages received, by channel and kind.",
	}, []string{"channel", "kind"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "linli_reply_latency_seconds", Help: "Time from receiving a message to having its replies.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"channel"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "linli_inbound_failures_total", Help: "Messages that could not be handled, by channel.",
	}, []string{"channel"})
	m.flows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "linli_flows_ended_total", Help: "Flows that ended, by flow and outcome (completed, cancelled, expired, handoff).",
	}, []string{"flow", "outcome"})
	m.rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "linli_webhook_rejections_total", Help: "Requests refused before they became messages, by channel and reason.",
	}, []string{"channel", "reason"})
	m.sms = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "linli_sms_total", Help: "SMS provider outcomes, by provider, result (sent, failed) and provider code.",
	}, []string{"provider", "result", "code"})
	// The store's single writer: when held seconds grow nearly as fast as
	// the clock, the database is the ceiling and more work only waits.
	held := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "linli_store_write_lock_held_seconds_total", Help: "Time this process held the database's write lock.",
	}, func() float64 { h, _ := st.WriteLockTime(); return h.Seconds() })
	waited := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "linli_store_write_lock_wait_seconds_total", Help: "Time writes of this process waited for the database's write lock, summed over writes.",
	}, func() float64 { _, w := st.WriteLockTime(); return w.Seconds() })
	m.reg.MustRegister(m.inbound, m.latency, m.failures, m.flows, m.rejections, m.sms, held, waited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&dbCollector{st: st, log: log})
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Handled implements bot.Observer.
func (m *metrics) Handled(channel, kind string, took time.Duration, err error) {
	m.inbound.WithLabelValues(channel, kind).Inc()
	m.latency.WithLabelValues(channel).Observe(took.Seconds())
	if err != nil {
		m.failures.WithLabelValues(channel).Inc()
	}
}

// Rejected counts a request a channel's endpoint refused.
func (m *metrics) Rejected(channel, reason string) {
	m.rejections.WithLabelValues(channel, reason).Inc()
}

// FlowEnded implements flows.Observer.
func (m *metrics) FlowEnded(flow, outcome string) {
	m.flows.WithLabelValues(flow, outcome).Inc()
}

// SMSResult counts one provider call's outcome.
func (m *metrics) SMSResult(provider, result, code string) {
	m.sms.WithLabelValues(provider, result, code).Inc()
}

// dbCollector reads outbox and ticket counts from the database at scrape time.
type dbCollector struct {
	st  *store.Store
	log *slog.Logger
}

var (
	outboxDesc  = prometheus.NewDesc("linli_outbox_rows", "Outbox rows by status and kind.", []string{"status", "kind"}, nil)
	openDesc    = prometheus.NewDesc("linli_tickets_open", "Tickets not yet resolved or cancelled.", nil, nil)
	overdueDesc = prometheus.NewDesc("linli_tickets_overdue", "Open tickets past their response target without a first response.", nil, nil)
)

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxDesc
	ch <- openDesc
	ch <- overdueDesc
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	counts, err := c.st.OutboxCounts(ctx)
	if err == nil {
		for k, n := range counts {
			ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(n), k[0], k[1])
		}
	}
	g, err2 := c.st.TicketGauges(ctx, time.Now())
	if err2 == nil {
		ch <- prometheus.MustNewConstMetric(openDesc, prometheus.GaugeValue, float64(g.Open))
		ch <- prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, float64(g.Overdue))
	}
	if err := errors.Join(err, err2); err != nil {
		c.log.Warn("metrics: database gauges", "err", err)
	}
}

// countRejections wraps the server and counts the requests each channel's
// endpoint refused (bad signature, wrong secret, malformed or oversized
// body, cross-origin, rate limited), by channel and status, so no channel
// has to report them itself. channelOf names the channel of a path.
func (m *metrics) countRejections(channelOf func(path string) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden,
			http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusTooManyRequests:
			m.Rejected(channelOf(r.URL.Path), strings.ToLower(strings.ReplaceAll(http.StatusText(rec.status), " ", "_")))
		}
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Flush keeps long polling and streaming working through the wrapper.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
