package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The alertmanager-mixin's alert rules and dashboards read Alertmanager's
// metric names: the real Prometheus scrapes a one-process Klaxon whose
// webhook fails and evaluates the mixin's expressions.
func TestAlertmanagerMixinExpressions(t *testing.T) {
	prom := requireE2E(t, "prometheus")
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	configFile := writeConfig(t, failing.URL, "['alertname']")
	_, web, _ := klaxonOne(t, configFile, t.TempDir())
	promAddr := startScraper(t, prom, web)
	query := func(expr string) []promSample { t.Helper(); return promQuery(t, promAddr, expr) }

	if code := postAlerts(t, web, []postable{firingAlert("alertname", "Mixin")}); code != http.StatusOK {
		t.Fatalf("POST = %d", code)
	}
	// AlertmanagerFailedToSendAlerts.
	failedShare := `(rate(alertmanager_notifications_failed_total{job="klaxon"}[5m]) / ignoring (reason) group_left rate(alertmanager_notifications_total{job="klaxon"}[5m])) > 0.01`
	eventually(t, 90*time.Second, "AlertmanagerFailedToSendAlerts firing for the webhook", func() bool {
		for _, s := range query(failedShare) {
			if s.Metric["integration"] == "webhook" && s.Metric["reason"] == "serverError" {
				return true
			}
		}
		return false
	})
	for expr, want := range map[string]float64{
		`alertmanager_alerts{state="active"}`:                                            1,
		`alertmanager_alerts{state="suppressed"}`:                                        0,
		`alertmanager_alerts_received_total{status="firing",version="v2"}`:               1,
		`alertmanager_alerts_invalid_total{version="v2"}`:                                0,
		`alertmanager_silences{state="active"}`:                                          0,
		`alertmanager_config_last_reload_successful`:                                     1,
		`count(alertmanager_notification_latency_seconds_bucket{integration="webhook"})`: 6, // Alertmanager's buckets 1, 5, 10, 15, 20 and +Inf
		`count(alertmanager_build_info{version!~"|\\(devel\\)"})`:                        1,
	} {
		got := query(expr)
		if len(got) != 1 || got[0].Value != want {
			t.Errorf("%s = %+v, want one sample of %v", expr, got, want)
		}
	}

	// AlertmanagerFailedReload: quiet while reloads succeed, firing after a
	// rejected one.
	failedReload := `max_over_time(alertmanager_config_last_reload_successful{job="klaxon"}[5m]) == 0`
	if got := query(failedReload); len(got) != 0 {
		t.Fatalf("AlertmanagerFailedReload with a good config: %+v", got)
	}
	if got := query(`alertmanager_config_hash != 0 and alertmanager_config_last_reload_success_timestamp_seconds > 0`); len(got) != 1 {
		t.Fatalf("config hash and reload timestamp: %+v", got)
	}
	if err := os.WriteFile(configFile, []byte("route: {receiver: nobody}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+web+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("reload of a config without its receiver succeeded")
	}
	// max_over_time over 5m keeps the earlier 1: the mixin's rule needs the
	// whole window failed, so check the instant value and the rule's
	// shape over a window that starts after the failure.
	eventually(t, 30*time.Second, "the failed reload scraped", func() bool {
		got := query(`max_over_time(alertmanager_config_last_reload_successful{job="klaxon"}[2s]) == 0`)
		return len(got) == 1
	})
}

// startScraper runs Prometheus scraping Klaxon's /metrics every second as
// job "klaxon"; it returns Prometheus' address.
func startScraper(t *testing.T, prom, target string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: klaxon
    static_configs:
      - targets: [%q]
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	start(t, "prometheus", prom,
		"--config.file", filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path", filepath.Join(dir, "data"),
		"--web.listen-address", addr)
	eventually(t, 60*time.Second, "Prometheus scraped Klaxon", func() bool {
		return len(promQuery(t, addr, `up{job="klaxon"} == 1`)) == 1
	})
	return addr
}

type promSample struct {
	Metric map[string]string
	Value  float64
}

// promQuery evaluates an instant query; an unreachable Prometheus or a
// query error gives no samples.
func promQuery(t *testing.T, addr, expr string) []promSample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil
	}
	if body.Status != "success" {
		t.Fatalf("query %s: %s", expr, body.Error)
	}
	out := make([]promSample, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		var v float64
		fmt.Sscan(fmt.Sprint(r.Value[1]), &v)
		out = append(out, promSample{Metric: r.Metric, Value: v})
	}
	return out
}
