package api

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scrapeTimeout bounds the evaluation behind alertmanager_alerts.
const scrapeTimeout = 2 * time.Second

// alertsCollector is Alertmanager's alertmanager_alerts{state}: the alerts
// GET /api/v2/alerts lists, counted by their state there (active or
// suppressed), evaluated at each scrape.
type alertsCollector struct {
	srv  *API
	desc *prometheus.Desc
}

func newAlertsCollector(srv *API) alertsCollector {
	return alertsCollector{srv: srv, desc: prometheus.NewDesc("alertmanager_alerts", "How many alerts by state.", []string{"state"}, nil)}
}

func (c alertsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect reports nothing when the alerts cannot be evaluated now (the
// watched copies are not synced yet): an absent series, not a wrong count.
func (c alertsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	counts, err := c.srv.countAlerts(ctx)
	if err != nil {
		c.srv.log.Warn("alertmanager_alerts not collected", "err", err)
		return
	}
	for _, state := range []string{"active", "suppressed"} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[state]), state)
	}
}

// countAlerts counts the listed alerts by state.
func (srv *API) countAlerts(ctx context.Context) (map[string]int, error) {
	e, err := srv.evaluation(ctx)
	if err != nil {
		return nil, fmt.Errorf("evaluate alerts: %w", err)
	}
	all, _ := srv.opts.Alerts.Values()
	counts := map[string]int{}
	for _, a := range all {
		if !listed(a, e.now) {
			continue
		}
		st, err := e.ev.Status(ctx, a.Labels, e.tree.Matched(a.Labels))
		if err != nil {
			return nil, fmt.Errorf("alert status: %w", err)
		}
		counts[st.State()]++
	}
	return counts, nil
}
