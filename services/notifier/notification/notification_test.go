package notification

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestNewData(t *testing.T) {
	firing := alert.Alert{
		Labels:       model.LabelSet{"alertname": "HighLatency", "team": "db", "instance": "a"},
		Annotations:  model.LabelSet{"summary": "slow", "runbook": "r1"},
		StartsAt:     t0.Add(-time.Hour),
		EndsAt:       t0.Add(5 * time.Minute), // expiry, not exposed
		GeneratorURL: "http://prom/graph",
	}
	resolved := alert.Alert{
		Labels:      model.LabelSet{"alertname": "HighLatency", "team": "db", "instance": "b"},
		Annotations: model.LabelSet{"summary": "slow", "runbook": "r2"},
		StartsAt:    t0.Add(-2 * time.Hour),
		EndsAt:      t0.Add(-time.Minute),
	}
	d := NewData("team.db", model.LabelSet{"alertname": "HighLatency"}, []alert.Alert{firing, resolved}, t0, "first notification", "http://klaxon:9093")

	if d.Receiver != `team\.db` {
		t.Errorf("receiver %q, want regexp-quoted team\\.db", d.Receiver)
	}
	if d.Status != "firing" || d.NotificationReason != "first notification" || d.ExternalURL != "http://klaxon:9093" {
		t.Errorf("data %+v", d)
	}
	if len(d.Alerts) != 2 {
		t.Fatalf("alerts %d", len(d.Alerts))
	}
	a, b := d.Alerts[0], d.Alerts[1]
	if a.Status != "firing" || !a.EndsAt.IsZero() || !a.StartsAt.Equal(firing.StartsAt) || a.GeneratorURL != "http://prom/graph" || a.Fingerprint != firing.Fingerprint().String() {
		t.Errorf("firing alert %+v", a)
	}
	if b.Status != "resolved" || !b.EndsAt.Equal(resolved.EndsAt) || b.Labels["instance"] != "b" || b.Annotations["runbook"] != "r2" {
		t.Errorf("resolved alert %+v", b)
	}
	if want := (KV{"alertname": "HighLatency", "team": "db"}); !equalKV(d.CommonLabels, want) {
		t.Errorf("common labels %v, want %v", d.CommonLabels, want)
	}
	if want := (KV{"summary": "slow"}); !equalKV(d.CommonAnnotations, want) {
		t.Errorf("common annotations %v, want %v", d.CommonAnnotations, want)
	}
	if want := (KV{"alertname": "HighLatency"}); !equalKV(d.GroupLabels, want) {
		t.Errorf("group labels %v", d.GroupLabels)
	}
	if got := d.Alerts.Firing(); len(got) != 1 || got[0].Labels["instance"] != "a" {
		t.Errorf("Firing() = %v", got)
	}
	if got := d.Alerts.Resolved(); len(got) != 1 || got[0].Labels["instance"] != "b" {
		t.Errorf("Resolved() = %v", got)
	}

	// Judged at the given time, not now: at t0+5m the first alert is resolved too.
	later := NewData("r", nil, []alert.Alert{firing, resolved}, t0.Add(5*time.Minute), "", "")
	if later.Status != "resolved" || later.Alerts[0].Status != "resolved" || !later.Alerts[0].EndsAt.Equal(firing.EndsAt) {
		t.Errorf("at t0+5m: %+v", later)
	}
}

func TestNewDataEmpty(t *testing.T) {
	b, err := json.Marshal(NewData("r", nil, nil, t0, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"receiver":"r","status":"resolved","alerts":[],"notification_reason":"","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":""}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestDataJSON(t *testing.T) {
	a := alert.Alert{
		Labels:   model.LabelSet{"alertname": "A"},
		StartsAt: t0,
	}
	n := &Notification{Receiver: "r", GroupKey: "{}:{}", Alerts: []alert.Alert{a}, At: t0, Reason: "new alerts added", ExternalURL: "http://x"}
	b, err := json.Marshal(n.Data())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"receiver":"r","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A"},"annotations":{},` +
		`"startsAt":"2026-01-02T03:04:05Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"` + a.Fingerprint().String() + `"}],` +
		`"notification_reason":"new alerts added","groupLabels":{},"commonLabels":{"alertname":"A"},"commonAnnotations":{},"externalURL":"http://x"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestKV(t *testing.T) {
	kv := KV{"zone": "z", "alertname": "A", "job": "j"}
	if got := kv.Names(); !slices.Equal(got, []string{"alertname", "job", "zone"}) {
		t.Errorf("Names = %v", got)
	}
	if got := kv.Values(); !slices.Equal(got, []string{"A", "j", "z"}) {
		t.Errorf("Values = %v", got)
	}
	if got := kv.String(); got != "alertname=A, job=j, zone=z" {
		t.Errorf("String = %q", got)
	}
	if got := kv.Remove([]string{"job"}); !equalKV(got, KV{"zone": "z", "alertname": "A"}) || len(kv) != 3 {
		t.Errorf("Remove = %v (original %v)", got, kv)
	}
	if got := (KV{"b": "2", "a": "1"}).SortedPairs(); !slices.Equal(got, Pairs{{"a", "1"}, {"b", "2"}}) {
		t.Errorf("SortedPairs without alertname = %v", got)
	}
}

func equalKV(a, b KV) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// The group key hash is Alertmanager's: SHA-256 in lowercase hex.
func TestKeyHash(t *testing.T) {
	n := &Notification{GroupKey: `{}:{alertname="A"}`}
	// printf '{}:{alertname="A"}' | sha256sum
	want := "ad4b39d3af6c5f089ddb8504a474cd124febe3ef322f263d58074fb0c51dc572"
	if got := n.KeyHash(); got != want {
		t.Errorf("KeyHash = %s, want %s", got, want)
	}
}
