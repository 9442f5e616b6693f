package ui

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	"github.com/klaxon-alerts/klaxon/pkg/route"
)

// What the UI reads of API v2 (Alertmanager's OpenAPI shapes).
type (
	apiAlert struct {
		Labels       model.LabelSet `json:"labels"`
		Annotations  model.LabelSet `json:"annotations"`
		StartsAt     time.Time      `json:"startsAt"`
		EndsAt       time.Time      `json:"endsAt"`
		GeneratorURL string         `json:"generatorURL"`
		Fingerprint  string         `json:"fingerprint"`
		Receivers    []struct {
			Name string `json:"name"`
		} `json:"receivers"`
		Status struct {
			State       string   `json:"state"`
			SilencedBy  []string `json:"silencedBy"`
			InhibitedBy []string `json:"inhibitedBy"`
			MutedBy     []string `json:"mutedBy"`
		} `json:"status"`
	}
	apiGroup struct {
		Labels   model.LabelSet `json:"labels"`
		Receiver struct {
			Name string `json:"name"`
		} `json:"receiver"`
		Alerts []apiAlert `json:"alerts"`
	}
)

// receiverView is one receiver of the alerts page with its groups.
type receiverView struct {
	Name   string
	Groups []groupView
}

type groupView struct {
	Labels   model.LabelSet
	GroupKey string
	Alerts   []apiAlert
}

type alertsData struct {
	Filter    string
	Error     string
	Receivers []receiverView
	Alerts    int
	Muted     bool
	Query     string // the page's query, for the live refresh
}

// alertsPage is the alerts grouped as the routing tree groups them:
// receiver → group → alerts, filtered with amtool's matcher syntax.
func (u *UI) alertsPage(w http.ResponseWriter, r *http.Request) {
	d := alertsData{Filter: strings.TrimSpace(r.URL.Query().Get("filter")), Muted: r.URL.Query().Get("muted") != "false",
		Query: r.URL.RawQuery}
	q := url.Values{}
	if d.Filter != "" {
		ms, err := matcher.Parse(d.Filter)
		if err != nil {
			d.Error = "filter: " + err.Error()
			u.render(w, r, http.StatusBadRequest, "alerts", "Alerts", d)
			return
		}
		for _, m := range ms {
			q.Add("filter", m.String())
		}
	}
	if !d.Muted {
		q.Set("silenced", "false")
		q.Set("inhibited", "false")
		q.Set("muted", "false")
	}
	var groups []apiGroup
	if err := u.call(r, http.MethodGet, "/api/v2/alerts/groups", q, nil, &groups); err != nil {
		u.fail(w, r, err)
		return
	}
	tree, _ := u.trees.Tree(u.opts.Config())
	byReceiver := map[string]*receiverView{}
	for _, g := range groups {
		rv := byReceiver[g.Receiver.Name]
		if rv == nil {
			rv = &receiverView{Name: g.Receiver.Name}
			byReceiver[g.Receiver.Name] = rv
		}
		rv.Groups = append(rv.Groups, groupView{Labels: g.Labels, GroupKey: groupKey(tree, g), Alerts: g.Alerts})
		d.Alerts += len(g.Alerts)
	}
	for _, rv := range byReceiver {
		d.Receivers = append(d.Receivers, *rv)
	}
	slices.SortFunc(d.Receivers, func(a, b receiverView) int { return strings.Compare(a.Name, b.Name) })
	u.render(w, r, http.StatusOK, "alerts", "Alerts", d)
}

// groupKey is the group's key as the router computes it, from one of its
// alerts (the API's group has only its labels and receiver).
func groupKey(tree *route.Tree, g apiGroup) string {
	if tree == nil || len(g.Alerts) == 0 {
		return ""
	}
	for _, rt := range tree.Routes(g.Alerts[0].Labels) {
		if rt.Receiver == g.Receiver.Name && rt.GroupLabels.Equal(g.Labels) {
			return rt.GroupKey
		}
	}
	return ""
}

// labelPairs are a label set's pairs, sorted by name.
type labelPair struct{ Name, Value string }

func labelPairs(ls model.LabelSet) []labelPair {
	out := make([]labelPair, 0, len(ls))
	for n, v := range ls {
		out = append(out, labelPair{string(n), string(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// funcs are the templates' helpers.
func (u *UI) funcs() template.FuncMap {
	return template.FuncMap{
		"labels": labelPairs,
		// chip is the filter that adds name=value to filter.
		"chip": func(filter, name, value string) string {
			m, err := matcher.New(matcher.Equal, name, value)
			if err != nil {
				return filter
			}
			add := m.String()
			f := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(filter), "{"), "}")
			if f == "" {
				return "{" + add + "}"
			}
			if strings.Contains(f, add) {
				return "{" + f + "}"
			}
			return "{" + f + ", " + add + "}"
		},
		// silenceMatchers is the silence form's matchers for a label set.
		"silenceMatchers": func(ls model.LabelSet) string {
			var ms matcher.Matchers
			for _, p := range labelPairs(ls) {
				ms = append(ms, matcher.MustNew(matcher.Equal, p.Name, p.Value))
			}
			return ms.String()
		},
		"ago": func(t time.Time) string { return ago(u.opts.Now(), t) },
		"ts": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		},
		"q":    url.QueryEscape,
		"join": strings.Join,
	}
}

// ago says how long before now t is, roughly ("3m ago", "in 2h").
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + short(-d)
	}
	return short(d) + " ago"
}

func short(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Hour).String(), "0m0s")
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}
