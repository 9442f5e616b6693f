package notifier

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

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
			Help: "Notifications sent although the log, when written, already recorded that flush (crash or concurrent replica).",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.notifications, m.failed, m.latency, m.suppressed, m.repeated} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("notifier: register metrics: %w", err)
		}
	}
	return m, nil
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
