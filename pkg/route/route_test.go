package route_test

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/route"
)

const tree = `
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: [severity="critical"]
      receiver: pager
      group_wait: 10s
      continue: true
    - matchers: ['team=~"db|database"']
      receiver: db
      group_by: [alertname, instance]
      routes:
        - match: {severity: info}
          receiver: db-info
          group_by: []
          repeat_interval: 12h
    - match_re: {team: "front.*"}
      matchers: ['env!="dev"']
      receiver: frontend
    - matchers: ['cluster="batch"']
      group_by: ['...']
receivers:
  - name: default
  - name: pager
  - name: db
  - name: db-info
  - name: frontend
`

func mustTree(t testing.TB, yml string) *route.Tree {
	t.Helper()
	cfg, err := config.Parse([]byte(yml), "")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := route.New(cfg.Route)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestMatch(t *testing.T) {
	tr := mustTree(t, tree)
	tests := []struct {
		name   string
		labels model.LabelSet
		// receivers and group keys of the matched routes, in order
		want [][2]string
	}{
		{
			name:   "no child matches: the root",
			labels: model.LabelSet{"alertname": "A"},
			want:   [][2]string{{"default", `{}:{alertname="A"}`}},
		},
		{
			name:   "continue: critical and then the db team",
			labels: model.LabelSet{"alertname": "A", "severity": "critical", "team": "db", "instance": "i1"},
			want: [][2]string{
				{"pager", `{}/{severity="critical"}:{alertname="A"}`},
				{"db", `{}/{team=~"db|database"}:{alertname="A", instance="i1"}`},
			},
		},
		{
			name:   "deepest match, explicit empty group_by",
			labels: model.LabelSet{"alertname": "A", "severity": "info", "team": "database", "instance": "i1"},
			want:   [][2]string{{"db-info", `{}/{team=~"db|database"}/{severity="info"}:{}`}},
		},
		{
			name:   "first match wins without continue; matchers sorted in the key",
			labels: model.LabelSet{"alertname": "B", "team": "frontend", "env": "prod", "cluster": "batch"},
			want:   [][2]string{{"frontend", `{}/{env!="dev",team=~"front.*"}:{alertname="B"}`}},
		},
		{
			name:   "a non-matching child is skipped",
			labels: model.LabelSet{"alertname": "B", "team": "frontend", "env": "dev", "cluster": "batch"},
			want:   [][2]string{{"default", `{}/{cluster="batch"}:{alertname="B", cluster="batch", env="dev", team="frontend"}`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][2]string
			for _, n := range tr.Match(tt.labels) {
				got = append(got, [2]string{n.Receiver, n.GroupKey(n.GroupLabels(tt.labels))})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Match(%s)\n got %q\nwant %q", tt.labels, got, tt.want)
			}
		})
	}
}

func TestInheritance(t *testing.T) {
	tr := mustTree(t, tree)
	root := tr.Root
	if root.GroupWait != 30*time.Second || root.GroupInterval != 5*time.Minute || root.RepeatInterval != 4*time.Hour {
		t.Errorf("root timings = %v/%v/%v, want Alertmanager's defaults 30s/5m/4h", root.GroupWait, root.GroupInterval, root.RepeatInterval)
	}
	pager := root.Routes[0]
	if pager.GroupWait != 10*time.Second || pager.GroupInterval != 5*time.Minute {
		t.Errorf("pager timings = %v/%v", pager.GroupWait, pager.GroupInterval)
	}
	if _, ok := pager.GroupBy["alertname"]; !ok || len(pager.GroupBy) != 1 {
		t.Errorf("pager group_by = %v, want inherited [alertname]", pager.GroupBy)
	}
	info := root.Routes[1].Routes[0]
	if len(info.GroupBy) != 0 || info.GroupByAll || info.RepeatInterval != 12*time.Hour {
		t.Errorf("db-info: group_by %v all=%v repeat %v", info.GroupBy, info.GroupByAll, info.RepeatInterval)
	}
	batch := root.Routes[3]
	if !batch.GroupByAll || batch.Receiver != "default" {
		t.Errorf("batch: all=%v receiver %q", batch.GroupByAll, batch.Receiver)
	}
	if got, want := info.ID, `{}/{team=~"db|database"}/{severity="info"}/0`; got != want {
		t.Errorf("ID = %s, want %s", got, want)
	}
	if got, want := root.Routes[3].ID, `{}/{cluster="batch"}/3`; got != want {
		t.Errorf("ID = %s, want %s", got, want)
	}
	if tr.ByID(info.ID) != info || root.ID != "{}" {
		t.Errorf("ByID / root ID wrong: root %q", root.ID)
	}
	var keys []string
	tr.Walk(func(n *route.Node) { keys = append(keys, n.Receiver) })
	if want := []string{"default", "pager", "db", "db-info", "frontend", "default"}; !slices.Equal(keys, want) {
		t.Errorf("Walk order %v, want %v", keys, want)
	}
}

// TestAlertmanagerGroups replays a routing scenario whose group keys and
// route IDs Alertmanager's dispatcher tests pin down, so that ours are
// byte-for-byte the same.
func TestAlertmanagerGroups(t *testing.T) {
	tr := mustTree(t, `
receivers: [{name: kafka}, {name: prod}, {name: testing}]
route:
  group_by: ['alertname']
  receiver: 'prod'
  routes:
  - match: {env: 'testing'}
    receiver: 'testing'
    group_by: ['alertname', 'service']
  - match: {env: 'prod'}
    receiver: 'prod'
    group_by: ['alertname', 'service', 'cluster']
    continue: true
  - match: {kafka: 'yes'}
    receiver: 'kafka'
    group_by: ['alertname', 'service', 'cluster']
`)
	type group struct{ receiver, key, id string }
	tests := []struct {
		labels model.LabelSet
		want   []group
	}{
		{model.LabelSet{"alertname": "OtherAlert", "cluster": "cc", "service": "dd"},
			[]group{{"prod", `{}:{alertname="OtherAlert"}`, `{}`}}},
		{model.LabelSet{"env": "testing", "alertname": "TestingAlert", "service": "api", "instance": "inst1"},
			[]group{{"testing", `{}/{env="testing"}:{alertname="TestingAlert", service="api"}`, `{}/{env="testing"}/0`}}},
		{model.LabelSet{"env": "prod", "alertname": "HighErrorRate", "cluster": "aa", "service": "api", "instance": "inst1"},
			[]group{{"prod", `{}/{env="prod"}:{alertname="HighErrorRate", cluster="aa", service="api"}`, `{}/{env="prod"}/1`}}},
		// continue on the prod route, then the kafka route.
		{model.LabelSet{"env": "prod", "alertname": "HighLatency", "cluster": "bb", "service": "db", "kafka": "yes", "instance": "inst3"},
			[]group{
				{"prod", `{}/{env="prod"}:{alertname="HighLatency", cluster="bb", service="db"}`, `{}/{env="prod"}/1`},
				{"kafka", `{}/{kafka="yes"}:{alertname="HighLatency", cluster="bb", service="db"}`, `{}/{kafka="yes"}/2`},
			}},
	}
	for _, tt := range tests {
		var got []group
		for _, n := range tr.Match(tt.labels) {
			got = append(got, group{n.Receiver, n.GroupKey(n.GroupLabels(tt.labels)), n.ID})
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.labels, got, tt.want)
		}
	}
}

func TestKeyFormatting(t *testing.T) {
	tr := mustTree(t, `
receivers: [{name: r}]
route:
  receiver: r
  group_by: ['...']
  routes:
    - matchers: ['"service name"="a b"', 'msg="say \"hi\""']
`)
	ls := model.LabelSet{"service name": "a b", "msg": `say "hi"`, "ünï": "ç"}
	n := tr.Match(ls)[0]
	want := `{}/{msg="say \"hi\"","service name"="a b"}:{msg="say \"hi\"", service name="a b", ünï="ç"}`
	if got := n.GroupKey(n.GroupLabels(ls)); got != want {
		t.Errorf("group key\n got %s\nwant %s", got, want)
	}
}
