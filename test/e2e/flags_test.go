package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Alertmanager's command line from a unit file behind a reverse proxy at
// /alertmanager/: the binary starts, serves every endpoint under the path
// (amtool reaches it there), warns once about the gossip flags, and still
// refuses a flag it does not know.
func TestAlertmanagerCommandLineUnderPrefix(t *testing.T) {
	am := amtoolCLI{path: requireE2E(t, "amtool")}
	web, natsAddr := freeAddr(t), freeAddr(t)
	p := start(t, "klaxon-flags", bin.Klaxon,
		"--config.file", writeConfig(t, "http://127.0.0.1:9/", "['alertname']"),
		"--storage.path", t.TempDir(), "--nats.listen-address", natsAddr,
		"--web.listen-address", web,
		"--web.external-url", "http://"+web+"/alertmanager/",
		"--web.get-concurrency", "4", "--web.timeout", "30s",
		"--dispatch.start-delay", "0s", "--alerts.gc-interval", "30m",
		"--data.retention", "120h", "--data.maintenance-interval", "15m",
		"--enable-feature", "utf8-strict-mode",
		"--cluster.listen-address=", "--cluster.peer", "am-1:9094", "--cluster.settle-timeout", "1m",
		"--log.level", "info", "--log.format", "json")
	base := "http://" + web + "/alertmanager"
	status := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	eventually(t, 30*time.Second, "ready under the prefix", func() bool { return status("/-/ready") == http.StatusOK })
	for _, path := range []string{"/-/healthy", "/metrics", "/api/v2/status", "/api/v2/alerts"} {
		if code := status(path); code != http.StatusOK {
			t.Errorf("GET /alertmanager%s = %d", path, code)
		}
	}
	resp, err := http.Get("http://" + web + "/api/v2/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/v2/status outside the prefix = %d, want 404", resp.StatusCode)
	}
	resp, err = http.Post(base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /alertmanager/-/reload = %d", resp.StatusCode)
	}
	am.url = base
	if out := am.must(t, "config", "show"); !strings.Contains(out, "receiver: sink") {
		t.Errorf("amtool config show under the prefix:\n%s", out)
	}
	if n := strings.Count(p.Out.String(), "--cluster.* flags ignored"); n != 1 {
		t.Errorf("%d cluster warnings in the log, want 1", n)
	}
}
