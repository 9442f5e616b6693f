package notifier

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-alerts/klaxon/services/notifier/nflogstore"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
)

// Failure reasons (klaxon_notifications_failed_total{reason}): the
// integrations' (notification.Reason*), and for errors they did not mark,
// from the HTTP status or the context.
const (
	failedConfig = notification.ReasonConfig // receiver or integration missing, or unusable
)

type metrics struct {
	notifications *prometheus.CounterVec
	failed        *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	suppressed    *prometheus.CounterVec
	repeated      prometheus.Counter

	// Alertmanager's names (notify.Metrics), so the alertmanager-mixin's
	// rules and dashboards work: one notification is one attempt here (a
	// retry is a redelivery), so failed/total is the failed attempts' share.
	amTotal   *prometheus.CounterVec
	amFailed  *prometheus.CounterVec
	amLatency *prometheus.HistogramVec

	// nflog counts the notification log's queries (alertmanager_nflog_*).
	nflog *nflogstore.Metrics
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_notifications_total",
			Help: "Notifications delivered, by integration type and DedupStage reason.",
		}, []string{"integration", "reason"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_notifications_failed_total",
			Help: "Failed notification attempts, by integration type and reason.",
		}, []string{"integration", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "klaxon_notification_latency_seconds",
			Help:    "Duration of notification attempts, by integration type.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"integration"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_notifications_suppressed_total",
			Help: "Flushes not sent: already_notified (redelivery or older flush), no_change (DedupStage), resolved_not_sent.",
		}, []string{"reason"}),
		repeated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "klaxon_notifications_repeated_total",
			Help: "Notifications that may repeat one already sent: resent after a crash mid-send (an earlier delivery's claim), or sent while another replica recorded the same flush.",
		}),
		amTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmanager_notifications_total",
			Help: "The total number of attempted notifications.",
		}, []string{"integration"}),
		amFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmanager_notifications_failed_total",
			Help: "The total number of failed notifications.",
		}, []string{"integration", "reason"}),
		amLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "alertmanager_notification_latency_seconds",
			Help:    "The latency of notifications in seconds.",
			Buckets: []float64{1, 5, 10, 15, 20},
		}, []string{"integration"}),
	}
	// As Alertmanager, every integration's series exist from the start, so
	// rate() over them is 0 rather than absent.
	for integration := range builders {
		m.amTotal.WithLabelValues(integration)
		m.amLatency.WithLabelValues(integration)
		for _, r := range amReasons {
			m.amFailed.WithLabelValues(integration, r)
		}
	}
	var err error
	if m.nflog, err = nflogstore.NewMetrics(reg); err != nil {
		return nil, fmt.Errorf("notifier: %w", err)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.notifications, m.failed, m.latency, m.suppressed, m.repeated, m.amTotal, m.amFailed, m.amLatency} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("notifier: register metrics: %w", err)
		}
	}
	return m, nil
}

// Alertmanager's failure reasons (notify.possibleFailureReasonCategory).
var amReasons = []string{"other", "clientError", "serverError", "contextCanceled", "contextDeadlineExceeded"}

// amReason maps a Klaxon failure reason to Alertmanager's.
func amReason(reason string) string {
	switch reason {
	case notification.ReasonClientError, notification.ReasonRateLimited:
		return "clientError"
	case notification.ReasonServerError:
		return "serverError"
	case notification.ReasonCanceled:
		return "contextCanceled"
	case notification.ReasonTimeout:
		return "contextDeadlineExceeded"
	}
	return "other"
}

// attempted counts a notification attempt of the integration that took
// seconds and failed for reason ("" when it succeeded).
func (m *metrics) attempted(integration string, seconds float64, reason string) {
	m.latency.WithLabelValues(integration).Observe(seconds)
	m.amLatency.WithLabelValues(integration).Observe(seconds)
	m.amTotal.WithLabelValues(integration).Inc()
	if reason != "" {
		m.failed.WithLabelValues(integration, reason).Inc()
		m.amFailed.WithLabelValues(integration, amReason(reason)).Inc()
	}
}

// unusable counts an attempt that failed before sending: the receiver or
// integration is missing from the config, or cannot be built.
func (m *metrics) unusable(integration string) {
	m.failed.WithLabelValues(integration, failedConfig).Inc()
	m.amTotal.WithLabelValues(integration).Inc()
	m.amFailed.WithLabelValues(integration, amReason(failedConfig)).Inc()
}

// failureReason classifies a send error for the failed counter.
func failureReason(err error) string {
	if r, ok := notification.FailureReason(err); ok {
		return r
	}
	var se *notification.StatusError
	switch {
	case errors.As(err, &se) && se.Code == 429:
		return notification.ReasonRateLimited
	case errors.As(err, &se) && se.Code/100 == 5:
		return notification.ReasonServerError
	case errors.As(err, &se):
		return notification.ReasonClientError
	case errors.Is(err, context.DeadlineExceeded):
		return notification.ReasonTimeout
	case errors.Is(err, context.Canceled):
		return notification.ReasonCanceled
	}
	return notification.ReasonOther
}
