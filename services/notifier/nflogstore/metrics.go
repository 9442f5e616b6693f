package nflogstore

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are Alertmanager's alertmanager_nflog_* metrics for what this log
// does as Alertmanager's does: a query is a read of one entry (Get), as
// Alertmanager's DedupStage queries its log once per flush. As there, a
// query that finds no entry counts as a query error too. Alertmanager's
// other nflog metrics measure what this log does not do (see the README).
type Metrics struct {
	queries       prometheus.Counter
	queryErrors   prometheus.Counter
	queryDuration prometheus.Histogram
}

// NewMetrics returns the metrics, registered with reg if it is not nil.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		queries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alertmanager_nflog_queries_total",
			Help: "Number of notification log queries were received.",
		}),
		queryErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alertmanager_nflog_query_errors_total",
			Help: "Number notification log received queries that failed.",
		}),
		queryDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "alertmanager_nflog_query_duration_seconds",
			Help:    "Duration of notification log query evaluation.",
			Buckets: prometheus.DefBuckets,
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.queries, m.queryErrors, m.queryDuration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("nflog metrics: %w", err)
		}
	}
	return m, nil
}

// queried counts a query that took seconds and failed if failed.
func (m *Metrics) queried(seconds float64, failed bool) {
	if m == nil {
		return
	}
	m.queries.Inc()
	m.queryDuration.Observe(seconds)
	if failed {
		m.queryErrors.Inc()
	}
}
