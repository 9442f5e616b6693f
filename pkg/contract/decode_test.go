package contract_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/fault"
)

func TestDecodeChecksTheVersion(t *testing.T) {
	ev, err := contract.Decode[contract.AlertChanged]([]byte(`{"version":1,"fingerprint":"g"}`))
	if err != nil || ev.Fingerprint != "g" {
		t.Fatalf("Decode = %+v, %v", ev, err)
	}
	for _, bad := range []string{`{"version":2,"groupId":"g"}`, `{"groupId":"g"}`, `{"version":`, `[]`} {
		_, err := contract.Decode[contract.AlertChanged]([]byte(bad))
		if err == nil || !fault.IsFinal(err) {
			t.Errorf("Decode(%s) = %v, want a final error", bad, err)
		}
		if err != nil && !strings.Contains(err.Error(), "contract.AlertChanged") {
			t.Errorf("Decode(%s) error %q does not name the event type", bad, err)
		}
	}
}

// Events are read by alert.Unmarshal (encoding/json/v2 streaming into the
// alerts' own readers); whatever encoding/json reads, it reads the same.
func FuzzDecodeAsEncodingJSON(f *testing.F) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("", 2*3600))
	a := alert.Alert{
		Labels:      model.LabelSet{"alertname": "Disk<full>", "instance": "h\u2028ü\"\\", "e": ""},
		Annotations: model.LabelSet{"summary": "a & b\n\t"}, StartsAt: t0, EndsAt: t0.Add(time.Minute), UpdatedAt: t0.UTC(),
		GeneratorURL: "http://x/?a=1&b=2", Timeout: true,
	}
	route := contract.Route{ID: "{}/0", Receiver: "r", GroupKey: `{}:{alertname="A"}`, GroupLabels: model.LabelSet{"alertname": "A"},
		GroupWait: model.Duration(30 * time.Second), GroupInterval: model.Duration(5 * time.Minute), RepeatInterval: model.Duration(4 * time.Hour),
		MuteTimeIntervals: []string{"night"}}
	for _, ev := range []any{
		contract.AlertChanged{Version: contract.Version, Fingerprint: "f", Alert: a},
		contract.AlertRouted{Version: contract.Version, Change: "new", Fingerprint: "f", Alert: a, Route: route},
		contract.Notification{Version: contract.Version, Integration: contract.Integration{Receiver: "r", Type: "webhook", Index: 1},
			GroupID: "g", GroupKey: route.GroupKey, GroupLabels: route.GroupLabels, Alerts: alert.List{a, {Labels: model.LabelSet{}}},
			RepeatInterval: route.RepeatInterval, FlushSeq: 7, FlushedAt: t0},
		contract.Notification{Version: contract.Version, AlertsObject: "o"},
		contract.DeadLetter{Version: contract.Version, Stage: "dedup", Headers: map[string]string{"k": "v"}, Payload: []byte("\x00\xff"), FailedAt: t0},
		contract.Suppressed{Version: contract.Version, Reason: "silence", Alerts: []contract.SuppressedAlert{{Fingerprint: "f", Labels: a.Labels, SilencedBy: []string{"s"}}}, At: t0},
		contract.Group{ID: "g", Route: route, Alerts: map[string]*alert.Alert{"f": &a}},
		contract.StoredAlert{Alert: a},
	} {
		data, err := json.Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"VERSION":1,"alert":{"labels":{"a":"1","a":"2"},"LABELS":null},"route":{"groupLabels":{"x":null}}}`))
	f.Add([]byte(`{"version":1,"alerts":[{"labels":{"a":"\ud800"}},null],"groupLabels":null,"repeatInterval":"1h30m"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		same[contract.AlertChanged](t, data)
		same[contract.AlertRouted](t, data)
		same[contract.Notification](t, data)
		same[contract.DeadLetter](t, data)
		same[contract.Suppressed](t, data)
		same[contract.Group](t, data)
		same[contract.StoredAlert](t, data)
	})
}

// same fails when data reads as a T with encoding/json but not, or as
// another T, with alert.Unmarshal (compared as encoding/json writes them).
func same[T any](t *testing.T, data []byte) {
	var want, got T
	if json.Unmarshal(data, &want) != nil {
		return
	}
	if err := alert.Unmarshal(data, &got); err != nil {
		t.Fatalf("%T: encoding/json reads %s; alert.Unmarshal: %v", want, data, err)
	}
	w, _ := json.Marshal(want)
	g, _ := json.Marshal(got)
	if string(w) != string(g) {
		t.Fatalf("%T of %s:\nencoding/json   %s\nalert.Unmarshal %s", want, data, w, g)
	}
}

// A routed alert, as the grouper reads every one: encoding/json against
// Decode (alert.Unmarshal).
func BenchmarkDecodeRouted(b *testing.B) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	data, err := json.Marshal(contract.AlertRouted{Version: contract.Version, Change: "new", Fingerprint: "8aea9a91c3fe0f6c", Alert: alert.Alert{
		Labels:      model.LabelSet{"alertname": "HighLatency", "instance": "host-1:9100", "job": "node", "severity": "page"},
		Annotations: model.LabelSet{"summary": "latency above 500ms"}, StartsAt: t0, EndsAt: t0.Add(4 * time.Minute), UpdatedAt: t0},
		Route: contract.Route{ID: "{}", Receiver: "team", GroupKey: `{}:{alertname="HighLatency"}`, GroupLabels: model.LabelSet{"alertname": "HighLatency"},
			GroupWait: model.Duration(30 * time.Second), GroupInterval: model.Duration(5 * time.Minute), RepeatInterval: model.Duration(4 * time.Hour)}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var ev contract.AlertRouted
			if err := json.Unmarshal(data, &ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := contract.Decode[contract.AlertRouted](data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
