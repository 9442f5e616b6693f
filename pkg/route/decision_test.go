package route_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

const cfg = `route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
      repeat_interval: 1h
    - matchers: ['team="db"']
      receiver: db
      group_by: ['...']
      mute_time_intervals: [nights]
time_intervals:
  - name: nights
    time_intervals: [{times: [{start_time: "22:00", end_time: "24:00"}]}]
receivers: [{name: default}, {name: pager}, {name: db}]
`

// One Route per matched node, in Alertmanager's order, each with the
// receiver, Alertmanager's group key and the inherited timings the grouper
// needs.
func TestRoutes(t *testing.T) {
	tree := mustTree(t, cfg)
	tests := []struct {
		labels model.LabelSet
		want   []string // receiver|group key
	}{
		{model.LabelSet{"alertname": "A"}, []string{`default|{}:{alertname="A"}`}},
		{model.LabelSet{"alertname": "A", "severity": "critical", "team": "db"}, []string{
			`pager|{}/{severity="critical"}:{alertname="A"}`,
			`db|{}/{team="db"}:{alertname="A", severity="critical", team="db"}`,
		}},
	}
	for _, tt := range tests {
		routes := tree.Routes(tt.labels)
		if len(routes) != len(tt.want) {
			t.Fatalf("%v: %d routes, want %d: %+v", tt.labels, len(routes), len(tt.want), routes)
		}
		for i, r := range routes {
			if got := r.Receiver + "|" + r.GroupKey; got != tt.want[i] {
				t.Errorf("%v route %d = %s, want %s", tt.labels, i, got, tt.want[i])
			}
		}
	}
	pager := tree.Routes(model.LabelSet{"alertname": "A", "severity": "critical"})[0]
	if time.Duration(pager.GroupWait) != 10*time.Second || time.Duration(pager.RepeatInterval) != time.Hour ||
		time.Duration(pager.GroupInterval) != 5*time.Minute {
		t.Errorf("pager timings = %v/%v/%v, want inherited 10s, default 5m, own 1h", pager.GroupWait, pager.GroupInterval, pager.RepeatInterval)
	}
	db := tree.Routes(model.LabelSet{"alertname": "A", "team": "db"})[0]
	if len(db.MuteTimeIntervals) != 1 || db.MuteTimeIntervals[0] != "nights" || db.ID == pager.ID {
		t.Errorf("db route = %+v", db)
	}
}

// Matched is Routes without the group labels and key: the same routes, in
// the same order, with everything else equal.
func TestMatchedIsRoutesWithoutTheGroup(t *testing.T) {
	tree := mustTree(t, cfg)
	for _, ls := range []model.LabelSet{{"alertname": "A"}, {"alertname": "A", "severity": "critical", "team": "db"}} {
		routes, matched := tree.Routes(ls), tree.Matched(ls)
		if len(matched) != len(routes) {
			t.Fatalf("%v: %d matched, %d routes", ls, len(matched), len(routes))
		}
		for i, r := range routes {
			if matched[i].GroupKey != "" || matched[i].GroupLabels != nil {
				t.Errorf("%v route %d matched with its group: %+v", ls, i, matched[i])
			}
			r.GroupKey, r.GroupLabels = "", nil
			if !reflect.DeepEqual(matched[i], r) {
				t.Errorf("%v route %d:\nmatched %+v\nroutes  %+v", ls, i, matched[i], r)
			}
		}
	}
}

// The alertmanager_alerts gauge and the API's listing judge every alert at
// every read: Matched against Routes for one alert.
func BenchmarkMatched(b *testing.B) {
	tree := mustTree(b, cfg)
	ls := model.LabelSet{"alertname": "A", "instance": "host-1:9100", "severity": "critical", "team": "db"}
	b.Run("Routes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tree.Routes(ls)
		}
	})
	b.Run("Matched", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tree.Matched(ls)
		}
	})
}
