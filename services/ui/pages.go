package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	"github.com/klaxon-alerts/klaxon/pkg/route"
)

// apiEvent is an event of /api/klaxon/v1/history.
type apiEvent struct {
	At           time.Time `json:"at"`
	Kind         string    `json:"kind"`
	Fingerprints []string  `json:"fingerprints"`
	Change       string    `json:"change"`
	Status       string    `json:"status"`
	Receiver     string    `json:"receiver"`
	GroupKey     string    `json:"groupKey"`
	RouteID      string    `json:"routeId"`
	Integration  string    `json:"integration"`
	FlushSeq     uint64    `json:"flushSeq"`
	Alerts       int       `json:"alerts"`
	Outcome      string    `json:"outcome"`
	Reason       string    `json:"reason"`
	SilencedBy   []string  `json:"silencedBy"`
	InhibitedBy  []string  `json:"inhibitedBy"`
	MutedBy      []string  `json:"mutedBy"`
	Deliveries   string    `json:"deliveries"`
	DeadLetter   uint64    `json:"deadLetter"`
}

type historyData struct {
	Fingerprint, GroupKey, Since string
	Answer                       struct {
		Since     time.Time  `json:"since"`
		Events    []apiEvent `json:"events"`
		Scanned   int        `json:"scanned"`
		Truncated bool       `json:"truncated"`
	}
	Alert *apiAlert
	Query string
}

// historyPage is the timeline of an alert (?fingerprint=) or a group
// (?groupKey=): "why was I (not) paged?".
func (u *UI) historyPage(w http.ResponseWriter, r *http.Request) {
	in := r.URL.Query()
	d := historyData{Fingerprint: in.Get("fingerprint"), GroupKey: in.Get("groupKey"), Since: in.Get("since"), Query: r.URL.RawQuery}
	if d.Fingerprint == "" && d.GroupKey == "" {
		u.render(w, r, http.StatusOK, "history", "History", d)
		return
	}
	q := url.Values{}
	for k, v := range map[string]string{"fingerprint": d.Fingerprint, "groupKey": d.GroupKey, "since": d.Since} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if err := u.call(r, http.MethodGet, "/api/klaxon/v1/history", q, nil, &d.Answer); err != nil {
		u.fail(w, r, err)
		return
	}
	if d.Fingerprint != "" {
		var alerts []apiAlert
		if err := u.call(r, http.MethodGet, "/api/v2/alerts", nil, nil, &alerts); err == nil {
			for i := range alerts {
				if alerts[i].Fingerprint == d.Fingerprint {
					d.Alert = &alerts[i]
				}
			}
		}
	}
	u.render(w, r, http.StatusOK, "history", "History", d)
}

// apiDeadLetter is /api/klaxon/v1/deadletters' entry.
type apiDeadLetter struct {
	ID            uint64            `json:"id"`
	Stage         string            `json:"stage"`
	Subject       string            `json:"subject"`
	Reason        string            `json:"reason"`
	FailedAt      *time.Time        `json:"failedAt"`
	StoredAt      time.Time         `json:"storedAt"`
	Headers       map[string]string `json:"headers"`
	Payload       string            `json:"payload"`
	PayloadBase64 []byte            `json:"payloadBase64"`
	Error         string            `json:"error"`
}

type deadLettersData struct {
	Stage, Done string
	Stages      []string
	List        []apiDeadLetter
}

// deadLettersPage lists the dead letters, as `klaxon dlq list`.
func (u *UI) deadLettersPage(w http.ResponseWriter, r *http.Request) {
	d := deadLettersData{Stage: r.URL.Query().Get("stage"), Stages: contract.Stages, Done: r.URL.Query().Get("redriven")}
	q := url.Values{}
	if d.Stage != "" {
		q.Set("stage", d.Stage)
	}
	if err := u.call(r, http.MethodGet, "/api/klaxon/v1/deadletters", q, nil, &d.List); err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "deadletters", "Dead letters", d)
}

// deadLetterPage is one dead letter in full, as `klaxon dlq list --id`.
func (u *UI) deadLetterPage(w http.ResponseWriter, r *http.Request) {
	var d apiDeadLetter
	if err := u.call(r, http.MethodGet, "/api/klaxon/v1/deadletters/"+url.PathEscape(r.PathValue("id")), nil, nil, &d); err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "deadletter", "Dead letter "+r.PathValue("id"), d)
}

// redrive is the redrive button, as `klaxon dlq redrive --id`.
func (u *UI) redrive(w http.ResponseWriter, r *http.Request) {
	id := url.PathEscape(r.PathValue("id"))
	if err := u.call(r, http.MethodPost, "/api/klaxon/v1/deadletters/"+id+"/redrive", nil, nil, nil); err != nil {
		u.fail(w, r, err)
		return
	}
	u.redirect(w, r, "/deadletters?redriven="+id)
}

type statusData struct {
	Status struct {
		Cluster struct {
			Name   string `json:"name"`
			Status string `json:"status"`
			Peers  []struct {
				Name    string `json:"name"`
				Address string `json:"address"`
			} `json:"peers"`
		} `json:"cluster"`
		VersionInfo map[string]string `json:"versionInfo"`
		Config      struct {
			Original string `json:"original"`
		} `json:"config"`
		Uptime time.Time `json:"uptime"`
	}
	Ready     string
	ReadyOK   bool
	Receivers []struct {
		Name string `json:"name"`
	}
}

// statusPage is /api/v2/status (config with secrets masked, cluster,
// version), the receivers and /-/ready.
func (u *UI) statusPage(w http.ResponseWriter, r *http.Request) {
	var d statusData
	if err := u.call(r, http.MethodGet, "/api/v2/status", nil, nil, &d.Status); err != nil {
		u.fail(w, r, err)
		return
	}
	if err := u.call(r, http.MethodGet, "/api/v2/receivers", nil, nil, &d.Receivers); err != nil {
		u.fail(w, r, err)
		return
	}
	rec := httptest.NewRecorder()
	u.opts.API.ServeHTTP(rec, httptest.NewRequestWithContext(r.Context(), http.MethodGet, "/-/ready", nil))
	body, _ := io.ReadAll(rec.Body)
	d.Ready, d.ReadyOK = strings.TrimSpace(string(body)), rec.Code == http.StatusOK
	u.render(w, r, http.StatusOK, "status", "Status", d)
}

type routeView struct {
	Node    *route.Node
	Matched bool
	Depth   int
}

type routesData struct {
	Labels  string
	Error   string
	Nodes   []routeView
	Routes  []contract.Route
	Tested  bool
	GroupBy func(*route.Node) string
}

// routesPage draws the routing tree and tests a label set against it, as
// `klaxon routes show|test`: the receivers, groups and the routes taken.
func (u *UI) routesPage(w http.ResponseWriter, r *http.Request) {
	d := routesData{Labels: strings.TrimSpace(r.URL.Query().Get("labels")), GroupBy: groupByString}
	tree, err := u.trees.Tree(u.opts.Config())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	matched := map[*route.Node]bool{}
	if d.Labels != "" {
		ls, err := parseLabelSet(d.Labels)
		if err != nil {
			d.Error = err.Error()
		} else {
			d.Tested = true
			for _, n := range tree.Match(ls) {
				for p := n; p != nil; p = p.Parent {
					matched[p] = true
				}
			}
			d.Routes = tree.Routes(ls)
		}
	}
	var walk func(n *route.Node, depth int)
	walk = func(n *route.Node, depth int) {
		d.Nodes = append(d.Nodes, routeView{Node: n, Matched: matched[n], Depth: depth})
		for _, c := range n.Routes {
			walk(c, depth+1)
		}
	}
	walk(tree.Root, 0)
	code := http.StatusOK
	if d.Error != "" {
		code = http.StatusBadRequest
	}
	u.render(w, r, code, "routes", "Routing tree", d)
}

// parseLabelSet reads a label set in matcher syntax, equality only
// ({a="b", c="d"} or a=b,c=d), as `routes test` takes it.
func parseLabelSet(s string) (model.LabelSet, error) {
	ms, err := matcher.Parse(s)
	if err != nil {
		return nil, err
	}
	ls := model.LabelSet{}
	for _, m := range ms {
		if m.Type != matcher.Equal {
			return nil, &labelError{m.String()}
		}
		ls[model.LabelName(m.Name)] = model.LabelValue(m.Value)
	}
	return ls, nil
}

type labelError struct{ m string }

func (e *labelError) Error() string { return "labels: want name=\"value\", not " + e.m }

func groupByString(n *route.Node) string {
	if n.GroupByAll {
		return "..."
	}
	names := make([]string, 0, len(n.GroupBy))
	for l := range n.GroupBy {
		names = append(names, string(l))
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
