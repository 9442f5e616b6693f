package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/test/harness"
)

// scrape parses a process's /metrics.
func scrape(t *testing.T, web string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + web + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("%s/metrics: %v", web, err)
	}
	return mfs
}

// nflogMetrics are Alertmanager 0.25's notification log metrics that
// Klaxon's notifier exports for its own log's queries.
var nflogMetrics = []string{
	"alertmanager_nflog_queries_total", "alertmanager_nflog_query_errors_total", "alertmanager_nflog_query_duration_seconds",
}

// Klaxon's alertmanager_nflog_* metrics have the names, types, help and
// histogram buckets of the real Alertmanager's, and move as its do: the
// first notification of a group queries the log and finds nothing, which
// Alertmanager counts as a query error.
func TestNflogMetricsAsAlertmanager(t *testing.T) {
	amBin := requireE2E(t, "prometheus-alertmanager")
	amSink, klaxonSink := newSink(t), newSink(t)
	amWeb := freeAddr(t)
	start(t, "alertmanager", amBin, "--config.file="+writeConfig(t, amSink.srv.URL, "['...']"), "--storage.path="+t.TempDir(),
		"--web.listen-address="+amWeb, "--cluster.listen-address=")
	harness.WaitReady(t, amWeb)
	_, web, _ := klaxonOne(t, writeConfig(t, klaxonSink.srv.URL, "['...']"), t.TempDir())

	before := scrape(t, web)
	for _, name := range nflogMetrics {
		if mf := before[name]; mf == nil || sampleCount(mf) != 0 {
			t.Errorf("%s before any notification: %v, want present and 0", name, mf)
		}
	}
	for _, target := range []string{amWeb, web} {
		if code := postAlerts(t, target, []postable{firingAlert("alertname", "NflogMetrics")}); code != http.StatusOK {
			t.Fatalf("POST to %s = %d", target, code)
		}
	}
	eventually(t, 20*time.Second, "both notified", func() bool {
		return len(amSink.messages()) > 0 && len(klaxonSink.messages()) > 0
	})

	am, kl := scrape(t, amWeb), scrape(t, web)
	for _, name := range nflogMetrics {
		a, k := am[name], kl[name]
		if a == nil || k == nil {
			t.Errorf("%s: Alertmanager has it: %v, Klaxon has it: %v", name, a != nil, k != nil)
			continue
		}
		if a.GetType() != k.GetType() || a.GetHelp() != k.GetHelp() {
			t.Errorf("%s: Alertmanager %s %q, Klaxon %s %q", name, a.GetType(), a.GetHelp(), k.GetType(), k.GetHelp())
		}
		if a.GetType() == dto.MetricType_HISTOGRAM && !slices.Equal(bounds(a), bounds(k)) {
			t.Errorf("%s buckets: Alertmanager %v, Klaxon %v", name, bounds(a), bounds(k))
		}
		// One flush each so far: one query, which found no entry.
		if sampleCount(a) < 1 || sampleCount(k) < 1 {
			t.Errorf("%s did not move: Alertmanager %v, Klaxon %v", name, sampleCount(a), sampleCount(k))
		}
	}
	if q, e := sampleCount(kl[nflogMetrics[0]]), sampleCount(kl[nflogMetrics[2]]); q != e {
		t.Errorf("Klaxon: %v queries, %v query durations", q, e)
	}
}

// sampleCount is a counter's value or a histogram's count.
func sampleCount(mf *dto.MetricFamily) float64 {
	if len(mf.GetMetric()) != 1 {
		return -1
	}
	m := mf.GetMetric()[0]
	if h := m.GetHistogram(); h != nil {
		return float64(h.GetSampleCount())
	}
	return m.GetCounter().GetValue()
}

// bounds are a histogram's bucket upper bounds.
func bounds(mf *dto.MetricFamily) []float64 {
	var out []float64
	for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
		out = append(out, b.GetUpperBound())
	}
	return out
}
