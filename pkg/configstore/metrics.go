package configstore

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// reloadMetrics are the outcome of the last reload, under Klaxon's names and
// under Alertmanager's (so the alertmanager-mixin's AlertmanagerFailedReload
// rule and its dashboards work unchanged).
type reloadMetrics struct {
	successful []prometheus.Gauge
	timestamp  []prometheus.Gauge
	hash       []prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer) (*reloadMetrics, error) {
	m := &reloadMetrics{}
	for _, prefix := range []string{"klaxon", "alertmanager"} {
		m.successful = append(m.successful, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: prefix + "_config_last_reload_successful", Help: "Whether the last configuration reload attempt was successful.",
		}))
		m.timestamp = append(m.timestamp, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: prefix + "_config_last_reload_success_timestamp_seconds", Help: "Timestamp of the last successful configuration reload.",
		}))
		m.hash = append(m.hash, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: prefix + "_config_hash", Help: "Hash of the currently loaded configuration.",
		}))
	}
	if reg == nil {
		return m, nil
	}
	for _, gs := range [][]prometheus.Gauge{m.successful, m.timestamp, m.hash} {
		for _, g := range gs {
			if err := reg.Register(g); err != nil {
				return nil, fmt.Errorf("config metrics: %w", err)
			}
		}
	}
	return m, nil
}

// failed records a rejected reload: the running config stays.
func (m *reloadMetrics) failed() { set(m.successful, 0) }

// applied records a config that now runs.
func (m *reloadMetrics) applied(now time.Time, hash float64) {
	set(m.successful, 1)
	set(m.timestamp, float64(now.Unix()))
	set(m.hash, hash)
}

func set(gs []prometheus.Gauge, v float64) {
	for _, g := range gs {
		g.Set(v)
	}
}
