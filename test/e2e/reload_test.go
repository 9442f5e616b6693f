package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func reloadConfig(url string) string {
	return fmt.Sprintf(`route:
  receiver: r
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: r
    webhook_configs: [{url: %q}]
`, url)
}

func postReload(t *testing.T, web string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+web+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// A reload asked of one process (POST /-/reload on ingest) switches the
// stages running in every other process: the router and notifier processes
// send the next alert to the new receiver. An invalid file is refused with
// its line, and the running config stays everywhere.
func TestReloadSwitchesEveryProcess(t *testing.T) {
	before, after := newSink(t), newSink(t)
	c := newCluster(t, writeConfig(t, before.srv.URL, "['...']"), nil)
	if err := os.WriteFile(c.Config, []byte(reloadConfig(after.srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := postReload(t, c.Ingest); code != http.StatusOK {
		t.Fatalf("reload = %d %s", code, body)
	}
	eventually(t, 10*time.Second, "every process on the new config", func() bool {
		return metricAll(t, c, "klaxon_config_hash") == 1
	})
	if code := postAlerts(t, c.Ingest, []postable{firingAlert("alertname", "AfterReload", "id", "1")}); code != http.StatusOK {
		t.Fatalf("POST = %d", code)
	}
	eventually(t, 15*time.Second, "alert at the new receiver", func() bool { return len(after.messages()) == 1 })

	if err := os.WriteFile(c.Config, []byte("route:\n  receiver: r\n  group_wait: never\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := postReload(t, c.Ingest)
	if code != http.StatusInternalServerError || !strings.Contains(body, "klaxon.yml:3") {
		t.Fatalf("invalid reload = %d %q, want 500 naming line 3", code, body)
	}
	if code := postAlerts(t, c.Ingest, []postable{firingAlert("alertname", "AfterBadReload", "id", "2")}); code != http.StatusOK {
		t.Fatalf("POST = %d", code)
	}
	eventually(t, 15*time.Second, "alert still at the running receiver", func() bool { return len(after.messages()) == 2 })
	if n := len(before.messages()); n != 0 {
		t.Fatalf("old receiver got %d notifications after the reload", n)
	}
}

// metricAll counts the distinct values of a gauge across the cluster's
// processes: 1 when all agree.
func metricAll(t *testing.T, c *cluster, name string) int {
	seen := map[float64]bool{}
	for _, web := range c.Webs {
		seen[metric(t, web, name)] = true
	}
	return len(seen)
}
