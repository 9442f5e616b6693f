package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// The first user path: the one-process Klaxon, alerts posted over HTTP as
// with curl, notified to a webhook; then resolved.
func TestOneProcessHTTPToWebhook(t *testing.T) {
	s := newSink(t)
	_, web, _ := klaxonOne(t, writeConfig(t, s.srv.URL, "['alertname']"), t.TempDir())

	a := firingAlert("alertname", "DiskFull", "instance", "db1")
	if code := postAlerts(t, web, []postable{a}); code != http.StatusOK {
		t.Fatalf("POST /api/v2/alerts = %d, want 200", code)
	}
	eventually(t, 15*time.Second, "firing notification", func() bool { return len(s.messages()) >= 1 })
	m := s.messages()[0].msg
	if m.Version != "4" || m.Receiver != "sink" || m.Status != "firing" || len(m.Alerts) != 1 ||
		m.Alerts[0].Labels["instance"] != "db1" || m.GroupKey != `{}:{alertname="DiskFull"}` {
		t.Fatalf("notification = %+v", m)
	}

	a.EndsAt = time.Now()
	if code := postAlerts(t, web, []postable{a}); code != http.StatusOK {
		t.Fatalf("POST resolved = %d", code)
	}
	eventually(t, 15*time.Second, "resolved notification", func() bool {
		ms := s.messages()
		return ms[len(ms)-1].msg.Status == "resolved"
	})
}

// Invalid alerts get a 400 that names the alert and the field, and the valid
// alerts of the same request are still notified.
func TestOneProcessRejectsInvalidKeepsValid(t *testing.T) {
	s := newSink(t)
	_, web, _ := klaxonOne(t, writeConfig(t, s.srv.URL, "['alertname']"), t.TempDir())

	bad := firingAlert("alertname", "Bad")
	bad.EndsAt = bad.StartsAt.Add(-time.Minute)
	body := []postable{firingAlert("alertname", "Good"), bad, {Labels: map[string]string{}}}
	if code := postAlerts(t, web, body); code != http.StatusBadRequest {
		t.Fatalf("POST with invalid alerts = %d, want 400", code)
	}
	eventually(t, 15*time.Second, "the valid alert notified", func() bool { return s.firingCount("alertname")["Good"] == 1 })
	if n := s.firingCount("alertname")["Bad"]; n != 0 {
		t.Fatalf("invalid alert notified %d times", n)
	}
}

// The second user path: any NATS client publishes on klaxon.alerts.in, one
// alert or an array; an invalid message goes to the dead-letter subject with
// its reason.
func TestOneProcessNATSPublish(t *testing.T) {
	s := newSink(t)
	_, _, natsAddr := klaxonOne(t, writeConfig(t, s.srv.URL, "['alertname']"), t.TempDir())
	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	one, _ := json.Marshal(firingAlert("alertname", "FromNATS", "n", "1"))
	many, _ := json.Marshal([]postable{firingAlert("alertname", "FromNATSArray", "n", "2"), firingAlert("alertname", "FromNATSArray", "n", "3")})
	for _, body := range [][]byte{one, many, []byte(`{"labels": not json`)} {
		if _, err := js.Publish(ctx, contract.SubjectAlertsIn, body); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	eventually(t, 15*time.Second, "alerts published over NATS notified", func() bool {
		c := s.firingCount("n")
		return c["1"] == 1 && c["2"] == 1 && c["3"] == 1
	})

	dlq, err := js.CreateOrUpdateConsumer(ctx, contract.StreamDLQ, jetstream.ConsumerConfig{FilterSubject: contract.DLQSubject(contract.StageDedup)})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := dlq.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("no dead letter for the malformed message: %v", err)
	}
	var dl contract.DeadLetter
	if err := json.Unmarshal(msg.Data(), &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Stage != contract.StageDedup || dl.Reason == "" || string(dl.Payload) != `{"labels": not json` {
		t.Fatalf("dead letter = %+v", dl)
	}
}

// The third user path: the real Prometheus evaluates a rule that fires and
// sends the alert to ingest exactly as it sends to Alertmanager.
func TestPrometheusToWebhook(t *testing.T) {
	prom := requireE2E(t, "prometheus")
	s := newSink(t)
	_, web, _ := klaxonOne(t, writeConfig(t, s.srv.URL, "['alertname']"), t.TempDir())

	dir := t.TempDir()
	rules := `groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: E2EAlwaysFiring
        expr: vector(1)
        labels: {severity: page}
        annotations: {summary: "fires from the start"}
`
	cfg := fmt.Sprintf(`global:
  evaluation_interval: 1s
alerting:
  alertmanagers:
    - api_version: v2
      static_configs:
        - targets: [%q]
rule_files: [rules.yml]
`, web)
	for name, content := range map[string]string{"rules.yml": rules, "prometheus.yml": cfg} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start(t, "prometheus", prom,
		"--config.file", filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path", filepath.Join(dir, "data"),
		"--web.listen-address", freeAddr(t),
		"--rules.alert.resend-delay=2s")

	eventually(t, 60*time.Second, "Prometheus' alert notified", func() bool {
		return s.firingCount("alertname")["E2EAlwaysFiring"] >= 1
	})
	m := s.messages()[0].msg
	if m.Alerts[0].Labels["severity"] != "page" || m.Alerts[0].Annotations["summary"] != "fires from the start" {
		t.Fatalf("notification = %+v", m)
	}
	// Prometheus re-sends the firing alert every 2s; dedup recognises these
	// refreshes and they must not notify again (repeat_interval is 1h).
	eventually(t, 30*time.Second, "three refreshes processed by dedup", func() bool {
		return metric(t, web, `klaxon_dedup_alerts_total{change="none"}`) >= 3
	})
	if n := s.firingCount("alertname")["E2EAlwaysFiring"]; n != 1 {
		t.Fatalf("alert notified %d times across Prometheus' resends, want 1", n)
	}
}

// The README's first command: klaxon from the repository root with its
// defaults (configs/klaxon.yml), only the addresses moved off the defaults
// so tests can run beside a real Klaxon.
func TestDefaultCommandRuns(t *testing.T) {
	web, natsAddr := freeAddr(t), freeAddr(t)
	startIn(t, "../..", "klaxon-default", bin.Klaxon,
		"--web.listen-address", web, "--nats.listen-address", natsAddr, "--storage.path", t.TempDir())
	waitReady(t, web)
	if code := postAlerts(t, web, []postable{firingAlert("alertname", "Default")}); code != http.StatusOK {
		t.Fatalf("POST = %d", code)
	}
}
