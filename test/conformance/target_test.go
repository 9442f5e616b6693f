package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/test/harness"
)

// target is one of the two systems under comparison: the real Alertmanager
// or Klaxon, each with its own webhook sink.
type target struct {
	name string
	sink *sink
	// api is the HTTP address of the API now (a restarted ingest moves).
	api func() string
	// cluster is set when Klaxon runs as microservices, for restarts.
	cluster *harness.Cluster
	// silences maps a scenario's silence names to this target's ids.
	mu       sync.Mutex
	silences map[string]string
}

// writeConfig writes the scenario's alertmanager.yml for one target, its
// webhooks pointing at that target's sink.
func writeConfig(t *testing.T, config string, s *sink) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "alertmanager.yml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(config, "{{URL}}", s.srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startAlertmanager runs Debian's prometheus-alertmanager alone (no
// cluster) on the config.
func startAlertmanager(t *testing.T, config string) *target {
	t.Helper()
	path := harness.RequireE2E(t, "prometheus-alertmanager")
	s := newSink(t)
	file := writeConfig(t, config, s)
	// A config Alertmanager refuses is the scenario's mistake: say so at
	// once rather than wait for a server that never gets ready.
	if out, err := exec.Command(harness.RequireE2E(t, "amtool"), "check-config", file).CombinedOutput(); err != nil {
		t.Fatalf("Alertmanager refuses the scenario's config: %v\n%s", err, out)
	}
	web := harness.FreeAddr(t)
	harness.Start(t, "", "alertmanager", path,
		"--config.file="+file, "--storage.path="+t.TempDir(),
		"--web.listen-address="+web, "--cluster.listen-address=", "--log.level=debug")
	harness.WaitReady(t, web)
	return &target{name: "alertmanager", sink: s, api: func() string { return web }, silences: map[string]string{}}
}

// startKlaxon runs Klaxon on the config: in one process, or as
// microservices when the scenario restarts a stage.
func startKlaxon(t *testing.T, config string, microservices bool) *target {
	t.Helper()
	s := newSink(t)
	file := writeConfig(t, config, s)
	tg := &target{name: "klaxon", sink: s, silences: map[string]string{}}
	if microservices {
		c := harness.NewCluster(t, bin, file, nil)
		tg.cluster = c
		tg.api = func() string { return c.Ingest }
		return tg
	}
	_, web, _ := harness.KlaxonOne(t, bin, file, t.TempDir())
	tg.api = func() string { return web }
	return tg
}

// notification is one webhook call, with the fields compared.
type notification struct {
	at       time.Time
	Receiver string `json:"receiver"`
	Status   string `json:"status"`
	Alerts   []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
		EndsAt      time.Time         `json:"endsAt"`
		Fingerprint string            `json:"fingerprint"`
	} `json:"alerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	// path is the webhook path: the scenario gives each receiver its own.
	path string
}

// sink is a webhook receiver recording every notification.
type sink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []notification
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, err := io.ReadAll(r.Body)
		var n notification
		if err == nil {
			err = json.Unmarshal(body, &n)
		}
		if err != nil {
			t.Errorf("webhook payload: %v: %s", err, body)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n.at, n.path = at, r.URL.Path
		s.mu.Lock()
		s.got = append(s.got, n)
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) notifications() []notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notification(nil), s.got...)
}

// call makes one API request and decodes a JSON answer into out (if set).
func (tg *target) call(method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+tg.api()+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	client := http.Client{Timeout: 15 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, nil
}
