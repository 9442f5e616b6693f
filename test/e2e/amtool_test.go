package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// suppressionConfig routes alerts by their "route" label: to the sink
// "plain", to the sink "optin" whose receiver asks for the resolution of
// silenced alerts, and to a route muted at all times. Critical alerts
// inhibit warnings on the same instance.
func suppressionConfig(t *testing.T, plainURL, optinURL string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "klaxon.yml")
	cfg := fmt.Sprintf(`route:
  receiver: plain
  group_by: [job]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: [route="optin"]
      receiver: optin
    - matchers: [route="muted"]
      receiver: plain
      mute_time_intervals: [always]
receivers:
  - name: plain
    webhook_configs:
      - url: %s
  - name: optin
    send_resolved_silenced: true
    webhook_configs:
      - url: %s
time_intervals:
  - name: always
    time_intervals:
      - times: [{start_time: '00:00', end_time: '24:00'}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [instance]
`, plainURL, optinURL)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// amtoolConfig is an Alertmanager configuration amtool itself accepts
// (no Klaxon-only keys), with secrets to be masked.
func amtoolConfig(t *testing.T, webhookURL string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "alertmanager.yml")
	cfg := fmt.Sprintf(`route:
  receiver: sink
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: [team="db"]
      receiver: db
receivers:
  - name: sink
    webhook_configs:
      - url: %s
  - name: db
    webhook_configs:
      - url: https://hooks.example.com/dbhook-e2e-secret
        http_config:
          basic_auth: {username: db, password: e2e-basic-secret}
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [instance]
`, webhookURL)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// amtool runs the real amtool against Klaxon and returns its standard
// output; stderr (amtool warns that versions differ) goes to the log.
type amtoolCLI struct {
	path, url string
}

func (a amtoolCLI) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.path, append([]string{"--alertmanager.url=" + a.url}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// amtool warns on stderr that its version is not Klaxon's; only other
	// output is worth the log.
	var other []string
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if line != "" && !strings.HasPrefix(line, "Warning: amtool version") {
			other = append(other, line)
		}
	}
	if err != nil || len(other) > 0 {
		t.Logf("amtool %s: err=%v stderr=%s", strings.Join(args, " "), err, strings.Join(other, "\n"))
	}
	return stdout.String(), err
}

func (a amtoolCLI) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := a.run(t, args...)
	if err != nil {
		t.Fatalf("amtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// amSilence is amtool's JSON output of a silence.
type amSilence struct {
	ID       string `json:"id"`
	Comment  string `json:"comment"`
	EndsAt   time.Time
	Status   struct{ State string } `json:"status"`
	Matchers []struct {
		Name, Value string
		IsRegex     bool `json:"isRegex"`
	} `json:"matchers"`
}

func (a amtoolCLI) silences(t *testing.T, args ...string) []amSilence {
	t.Helper()
	out := a.must(t, append([]string{"silence", "query", "-o", "json"}, args...)...)
	var sils []amSilence
	if err := json.Unmarshal([]byte(out), &sils); err != nil {
		t.Fatalf("amtool silence query output: %v\n%s", err, out)
	}
	return sils
}

// Every amtool command of the issue, unchanged, against the one-process
// Klaxon.
func TestAmtool(t *testing.T) {
	path := requireE2E(t, "amtool")
	s := newSink(t)
	cfgFile := amtoolConfig(t, s.srv.URL)
	_, web, _ := klaxonOne(t, cfgFile, t.TempDir())
	am := amtoolCLI{path: path, url: "http://" + web}

	// check-config validates the file as Alertmanager would.
	if out := am.must(t, "check-config", cfgFile); !strings.Contains(out, "SUCCESS") {
		t.Fatalf("check-config: %s", out)
	}

	// alert add, then alert query with matchers.
	am.must(t, "alert", "add", "alertname=AmtoolDisk", "severity=warning", "instance=db1", "--annotation=summary=disk full")
	am.must(t, "alert", "add", "alertname=AmtoolNode", "severity=critical", "instance=db1")
	eventually(t, 15*time.Second, "amtool's alerts listed", func() bool {
		out, err := am.run(t, "alert", "query", "--active", "--inhibited", "-o", "simple", "alertname=~Amtool.*")
		return err == nil && strings.Contains(out, "AmtoolDisk") && strings.Contains(out, "AmtoolNode")
	})
	out := am.must(t, "alert", "query", "-o", "extended", `severity="critical"`)
	if !strings.Contains(out, "AmtoolNode") || strings.Contains(out, "AmtoolDisk") {
		t.Fatalf("alert query severity=critical:\n%s", out)
	}
	// The warning is inhibited by the critical alert on the same instance:
	// not listed among the active ones, listed with --inhibited.
	if out := am.must(t, "alert", "query", "alertname=AmtoolDisk"); strings.Contains(out, "AmtoolDisk") {
		t.Fatalf("inhibited alert listed as active:\n%s", out)
	}
	if out := am.must(t, "alert", "query", "--inhibited", "alertname=AmtoolDisk"); !strings.Contains(out, "AmtoolDisk") {
		t.Fatalf("inhibited alert not listed with --inhibited:\n%s", out)
	}

	// silence add / query / update / expire / import.
	id := strings.TrimSpace(am.must(t, "silence", "add", "alertname=AmtoolNode", "--comment=maintenance", "--author=alice", "--duration=1h"))
	if len(id) != 36 {
		t.Fatalf("silence add printed %q, want a silence id", id)
	}
	if ids := am.must(t, "silence", "query", "-q"); strings.TrimSpace(ids) != id {
		t.Fatalf("silence query -q = %q, want %s", ids, id)
	}
	sils := am.silences(t, "alertname=AmtoolNode")
	if len(sils) != 1 || sils[0].ID != id || sils[0].Status.State != "active" || sils[0].Comment != "maintenance" {
		t.Fatalf("silence query = %+v", sils)
	}
	eventually(t, 15*time.Second, "the silenced alert listed as silenced", func() bool {
		out, err := am.run(t, "alert", "query", "--silenced", "alertname=AmtoolNode")
		active, err2 := am.run(t, "alert", "query", "alertname=AmtoolNode")
		return err == nil && err2 == nil && strings.Contains(out, "AmtoolNode") && !strings.Contains(active, "AmtoolNode")
	})

	// Extending an active silence keeps its id (an in-place update).
	am.must(t, "silence", "update", id, "--duration=3h", "--comment=longer")
	sils = am.silences(t)
	if len(sils) != 1 || sils[0].ID != id || sils[0].Comment != "longer" || time.Until(sils[0].EndsAt) < 2*time.Hour {
		t.Fatalf("after update: %+v", sils)
	}
	exported := am.must(t, "silence", "query", "-o", "json")

	am.must(t, "silence", "expire", id)
	if sils := am.silences(t, "--expired"); len(sils) != 1 || sils[0].ID != id || sils[0].Status.State != "expired" {
		t.Fatalf("expired silences = %+v", sils)
	}
	if sils := am.silences(t); len(sils) != 0 {
		t.Fatalf("active silences after expire = %+v", sils)
	}

	// import re-creates the exported silence (its id is expired, so a new
	// one is made).
	file := filepath.Join(t.TempDir(), "silences.json")
	if err := os.WriteFile(file, []byte(exported), 0o644); err != nil {
		t.Fatal(err)
	}
	am.must(t, "silence", "import", file)
	sils = am.silences(t)
	if len(sils) != 1 || sils[0].ID == id || sils[0].Comment != "longer" || sils[0].Matchers[0].Value != "AmtoolNode" {
		t.Fatalf("after import: %+v", sils)
	}

	// config show: the running config, secrets masked.
	shown := am.must(t, "config", "show")
	for _, secret := range []string{"dbhook-e2e-secret", "e2e-basic-secret", s.srv.URL} {
		if strings.Contains(shown, secret) {
			t.Errorf("config show reveals a secret %q:\n%s", secret, shown)
		}
	}
	if !strings.Contains(shown, "receiver: db") || !strings.Contains(shown, "<secret>") {
		t.Fatalf("config show:\n%s", shown)
	}

	// config routes test: amtool reads the config from Klaxon and routes.
	if out := strings.TrimSpace(am.must(t, "config", "routes", "test", "team=db", "alertname=X")); out != "db" {
		t.Fatalf("routes test team=db = %q, want db", out)
	}
	if out := strings.TrimSpace(am.must(t, "config", "routes", "test", "alertname=X")); out != "sink" {
		t.Fatalf("routes test alertname=X = %q, want sink", out)
	}
	if _, err := am.run(t, "config", "routes", "test", "--verify.receivers=db", "alertname=X"); err == nil {
		t.Fatal("routes test --verify.receivers=db for a sink alert succeeded")
	}
	if out := am.must(t, "config", "routes"); !strings.Contains(out, `{team="db"}  receiver: db`) {
		t.Fatalf("config routes:\n%s", out)
	}
}

// suppressedEvents follows klaxon.suppressed.> on a Klaxon's NATS.
type suppressedEvents struct {
	cons jetstream.Consumer
	seen []contract.Suppressed
}

func followSuppressed(t *testing.T, natsAddr string) *suppressedEvents {
	t.Helper()
	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(t.Context(), contract.StreamSuppressed, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &suppressedEvents{cons: cons}
}

// waitFor returns the first event, seen before or arriving within the
// timeout, that satisfies ok.
func (s *suppressedEvents) waitFor(t *testing.T, timeout time.Duration, what string, ok func(contract.Suppressed) bool) contract.Suppressed {
	t.Helper()
	for _, ev := range s.seen {
		if ok(ev) {
			return ev
		}
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		msg, err := s.cons.Next(jetstream.FetchMaxWait(time.Until(deadline)))
		if err != nil {
			continue
		}
		var ev contract.Suppressed
		if err := json.Unmarshal(msg.Data(), &ev); err != nil {
			t.Fatalf("Suppressed event: %v", err)
		}
		if msg.Subject() != contract.SuppressedSubject(ev.Reason) {
			t.Fatalf("%s event on %s", ev.Reason, msg.Subject())
		}
		s.seen = append(s.seen, ev)
		if ok(ev) {
			return ev
		}
	}
	t.Fatalf("no Suppressed event: %s", what)
	return contract.Suppressed{}
}

func hasAlert(ev contract.Suppressed, label, value, status string) bool {
	return slices.ContainsFunc(ev.Alerts, func(a contract.SuppressedAlert) bool {
		return string(a.Labels[model.LabelName(label)]) == value && a.Status == status
	})
}

func postSilence(t *testing.T, web, matcherName, matcherValue string) string {
	t.Helper()
	body := fmt.Sprintf(`{"matchers":[{"name":%q,"value":%q,"isRegex":false}],"startsAt":%q,"endsAt":%q,"createdBy":"e2e","comment":"test"}`,
		matcherName, matcherValue, time.Now().UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	resp, err := http.Post("http://"+web+"/api/v2/silences", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil {
		t.Fatalf("POST silence = %d %s", resp.StatusCode, b)
	}
	return out.SilenceID
}

// A silenced alert is not notified while an unsilenced alert of the same
// group is; the flush records why (a Suppressed event naming the silence),
// the API shows it, and the suppression is counted. Inhibited and time-muted
// alerts are recorded the same way.
func TestSilencedAlertNotNotified(t *testing.T) {
	plain, optin := newSink(t), newSink(t)
	_, web, natsAddr := klaxonOne(t, suppressionConfig(t, plain.srv.URL, optin.srv.URL), t.TempDir())
	events := followSuppressed(t, natsAddr)

	silID := postSilence(t, web, "alertname", "Quiet")
	quiet := firingAlert("alertname", "Quiet", "job", "j1")
	loud := firingAlert("alertname", "Loud", "job", "j1")
	warn := firingAlert("alertname", "Disk", "job", "j1", "severity", "warning", "instance", "db1")
	crit := firingAlert("alertname", "NodeDown", "job", "j2", "severity", "critical", "instance", "db1")
	muted := firingAlert("alertname", "Night", "job", "j3", "route", "muted")
	if code := postAlerts(t, web, []postable{quiet, loud, warn, crit, muted}); code != http.StatusOK {
		t.Fatalf("POST alerts = %d", code)
	}

	ev := events.waitFor(t, 20*time.Second, "the silenced alert", func(ev contract.Suppressed) bool {
		return ev.Reason == contract.ReasonSilence && hasAlert(ev, "alertname", "Quiet", "firing")
	})
	if ev.Alerts[0].SilencedBy[0] != silID || ev.Receiver != "plain" || ev.GroupKey != `{}:{job="j1"}` {
		t.Fatalf("silence event = %+v", ev)
	}
	events.waitFor(t, 20*time.Second, "the inhibited alert", func(ev contract.Suppressed) bool {
		return ev.Reason == contract.ReasonInhibition && hasAlert(ev, "alertname", "Disk", "firing") && len(ev.Alerts[0].InhibitedBy) == 1
	})
	events.waitFor(t, 20*time.Second, "the time-muted group", func(ev contract.Suppressed) bool {
		return ev.Reason == contract.ReasonTimeInterval && hasAlert(ev, "alertname", "Night", "firing") && slices.Equal(ev.MutedBy, []string{"always"})
	})
	// The flush that left Quiet out is the one that notified Loud.
	eventually(t, 15*time.Second, "the unsilenced alerts notified", func() bool {
		c := plain.firingCount("alertname")
		return c["Loud"] == 1 && c["NodeDown"] == 1
	})
	counts := plain.firingCount("alertname")
	if counts["Quiet"] != 0 || counts["Disk"] != 0 || counts["Night"] != 0 || counts["NodeDown"] != 1 {
		t.Fatalf("notified %v: silenced, inhibited or muted alerts were notified", counts)
	}
	if n := metric(t, web, `klaxon_grouper_alerts_suppressed_total{reason="silence"}`); n < 1 {
		t.Fatalf("suppressed{reason=silence} = %v", n)
	}

	// "Why was I not paged?" — the API answers too.
	var alerts []struct {
		Labels map[string]string `json:"labels"`
		Status struct {
			State       string   `json:"state"`
			SilencedBy  []string `json:"silencedBy"`
			InhibitedBy []string `json:"inhibitedBy"`
			MutedBy     []string `json:"mutedBy"`
		} `json:"status"`
	}
	getJSON(t, "http://"+web+"/api/v2/alerts", &alerts)
	for _, a := range alerts {
		switch a.Labels["alertname"] {
		case "Quiet":
			if a.Status.State != "suppressed" || !slices.Equal(a.Status.SilencedBy, []string{silID}) {
				t.Errorf("Quiet status %+v", a.Status)
			}
		case "Disk":
			if a.Status.State != "suppressed" || len(a.Status.InhibitedBy) != 1 {
				t.Errorf("Disk status %+v", a.Status)
			}
		case "Night":
			if !slices.Equal(a.Status.MutedBy, []string{"always"}) {
				t.Errorf("Night status %+v", a.Status)
			}
		case "Loud":
			if a.Status.State != "active" {
				t.Errorf("Loud status %+v", a.Status)
			}
		}
	}
}

// Alertmanager's issue 226: an alert notified as firing, then silenced, then
// resolved. Without the opt-in its resolution is not sent (as in
// Alertmanager); a receiver with send_resolved_silenced gets it.
func TestResolvedOfSilencedAlert(t *testing.T) {
	plain, optin := newSink(t), newSink(t)
	_, web, natsAddr := klaxonOne(t, suppressionConfig(t, plain.srv.URL, optin.srv.URL), t.TempDir())
	events := followSuppressed(t, natsAddr)

	a := firingAlert("alertname", "Flappy", "job", "j1")
	b := firingAlert("alertname", "Flappy", "job", "j1", "route", "optin")
	if code := postAlerts(t, web, []postable{a, b}); code != http.StatusOK {
		t.Fatalf("POST = %d", code)
	}
	eventually(t, 15*time.Second, "both notified firing", func() bool {
		return plain.firingCount("alertname")["Flappy"] == 1 && optin.firingCount("alertname")["Flappy"] == 1
	})
	postSilence(t, web, "alertname", "Flappy")
	a.EndsAt, b.EndsAt = time.Now(), time.Now()
	if code := postAlerts(t, web, []postable{a, b}); code != http.StatusOK {
		t.Fatalf("POST resolved = %d", code)
	}
	eventually(t, 15*time.Second, "the opt-in receiver gets the resolution", func() bool {
		for _, m := range optin.messages() {
			if m.msg.Status == "resolved" {
				return true
			}
		}
		return false
	})
	// The plain receiver's flush of the resolution was suppressed: wait for
	// its record, then check nothing was sent.
	events.waitFor(t, 20*time.Second, "the plain receiver's resolution suppressed", func(ev contract.Suppressed) bool {
		return ev.Reason == contract.ReasonSilence && ev.Receiver == "plain" && hasAlert(ev, "alertname", "Flappy", "resolved")
	})
	for _, m := range plain.messages() {
		if m.msg.Status == "resolved" {
			t.Fatalf("plain receiver got the resolution of a silenced alert: %+v", m.msg)
		}
	}
}
