// Package e2e runs Klaxon as its users do: the real klaxon binary, one
// process or one process per stage against a real nats-server process, fed
// by curl-like HTTP posts, a NATS client, or the real Prometheus, and
// notifying a real HTTP webhook. Tests wait by polling with deadlines.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/test/harness"
)

// bin holds the binaries built once for all tests.
var bin harness.Binaries

func TestMain(m *testing.M) { harness.Main(m, &bin) }

// The process and polling helpers of package harness, by their local names.
type proc = harness.Proc

func requireE2E(t *testing.T, name string) string { t.Helper(); return harness.RequireE2E(t, name) }
func freeAddr(t *testing.T) string                { t.Helper(); return harness.FreeAddr(t) }
func getJSON(t *testing.T, url string, v any)     { t.Helper(); harness.GetJSON(t, url, v) }
func waitReady(t *testing.T, addr string)         { t.Helper(); harness.WaitReady(t, addr) }
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	harness.Eventually(t, timeout, what, cond)
}
func start(t *testing.T, name, path string, args ...string) *proc {
	t.Helper()
	return harness.Start(t, "", name, path, args...)
}
func startIn(t *testing.T, dir, name, path string, args ...string) *proc {
	t.Helper()
	return harness.Start(t, dir, name, path, args...)
}

// webhookMessage is the part of Alertmanager's version-4 payload tests read.
type webhookMessage struct {
	Version  string `json:"version"`
	GroupKey string `json:"groupKey"`
	Receiver string `json:"receiver"`
	Status   string `json:"status"`
	Alerts   []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		Fingerprint string            `json:"fingerprint"`
	} `json:"alerts"`
	GroupLabels map[string]string `json:"groupLabels"`
}

type received struct {
	at     time.Time
	msg    webhookMessage
	reason string
}

// sink is a webhook receiver recording every notification.
type sink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []received
	// fail, when set, answers with this status code instead of 200.
	fail int
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var m webhookMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("webhook payload is not JSON: %v: %s", err, body)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.fail != 0 {
			w.WriteHeader(s.fail)
			return
		}
		var extra struct {
			Reason string `json:"notification_reason"`
		}
		_ = json.Unmarshal(body, &extra)
		s.got = append(s.got, received{at: time.Now(), msg: m, reason: extra.Reason})
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

// firingCount counts, per value of label, the notifications in which an
// alert with that value was firing.
func (s *sink) firingCount(label string) map[string]int {
	counts := map[string]int{}
	for _, r := range s.messages() {
		for _, a := range r.msg.Alerts {
			if a.Status == "firing" {
				counts[a.Labels[label]]++
			}
		}
	}
	return counts
}

// writeConfig writes an Alertmanager config routing everything to the sink.
func writeConfig(t *testing.T, webhookURL, groupBy string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "klaxon.yml")
	cfg := fmt.Sprintf(`route:
  receiver: sink
  group_by: %s
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: sink
    webhook_configs:
      - url: %s
`, groupBy, webhookURL)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// klaxonOne starts the one-process Klaxon; it returns the process and its
// HTTP and NATS addresses.
func klaxonOne(t *testing.T, configFile, storage string) (p *proc, web, natsAddr string) {
	t.Helper()
	return harness.KlaxonOne(t, bin, configFile, storage)
}

// postAlerts posts alerts as Prometheus does and returns the status code.
func postAlerts(t *testing.T, web string, alerts any) int {
	t.Helper()
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+web+"/api/v2/alerts", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post alerts: %v", err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

// metric reads one sample from a Klaxon process's /metrics (0 if absent).
func metric(t *testing.T, web, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + web + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

type postable struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt,omitzero"`
	EndsAt      time.Time         `json:"endsAt,omitzero"`
}

// firingAlert is an alert as Prometheus sends it while it fires.
func firingAlert(labels ...string) postable {
	ls := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		ls[labels[i]] = labels[i+1]
	}
	now := time.Now()
	return postable{Labels: ls, Annotations: map[string]string{"summary": "test"}, StartsAt: now, EndsAt: now.Add(time.Hour)}
}
