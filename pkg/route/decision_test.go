package route_test

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/route"
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
	c, err := config.Parse([]byte(cfg), "r.yml")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := route.New(c.Route)
	if err != nil {
		t.Fatal(err)
	}
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
