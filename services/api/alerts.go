package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/kvcache"
	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	"github.com/klaxon-alerts/klaxon/pkg/mute"
	"github.com/klaxon-alerts/klaxon/pkg/route"
)

// The JSON shapes of Alertmanager's OpenAPI v2 (api/v2/openapi.yaml). Every
// field the spec requires is always present: lists are [] rather than null.
type (
	apiReceiver struct {
		Name string `json:"name"`
	}
	apiAlertStatus struct {
		State       string   `json:"state"`
		SilencedBy  []string `json:"silencedBy"`
		InhibitedBy []string `json:"inhibitedBy"`
		MutedBy     []string `json:"mutedBy"`
	}
	gettableAlert struct {
		Labels       model.LabelSet `json:"labels"`
		Annotations  model.LabelSet `json:"annotations"`
		StartsAt     time.Time      `json:"startsAt"`
		EndsAt       time.Time      `json:"endsAt"`
		UpdatedAt    time.Time      `json:"updatedAt"`
		GeneratorURL string         `json:"generatorURL,omitempty"`
		Fingerprint  string         `json:"fingerprint"`
		Receivers    []apiReceiver  `json:"receivers"`
		Status       apiAlertStatus `json:"status"`
	}
	alertGroup struct {
		Labels   model.LabelSet  `json:"labels"`
		Receiver apiReceiver     `json:"receiver"`
		Alerts   []gettableAlert `json:"alerts"`
	}
)

// readTimeout bounds a read request's wait for the watched copies to sync
// (only ever long right after start).
const readTimeout = 10 * time.Second

// alertQuery is the parameters of GET /api/v2/alerts and /alerts/groups.
type alertQuery struct {
	active, silenced, inhibited, unprocessed, muted bool
	filter                                          matcher.Matchers
	receiver                                        *regexp.Regexp
}

func parseAlertQuery(r *http.Request, mode matcher.Mode) (alertQuery, error) {
	q := r.URL.Query()
	aq := alertQuery{}
	for name, dst := range map[string]*bool{
		"active": &aq.active, "silenced": &aq.silenced, "inhibited": &aq.inhibited,
		"unprocessed": &aq.unprocessed, "muted": &aq.muted,
	} {
		*dst = true // every flag defaults to true
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return aq, fmt.Errorf("%s in query must be of type boolean: %q", name, v)
			}
			*dst = b
		}
	}
	filter, err := parseFilter(mode, q["filter"])
	if err != nil {
		return aq, err
	}
	aq.filter = filter
	if q.Has("receiver") {
		re, err := regexp.Compile("^(?:" + q.Get("receiver") + ")$")
		if err != nil {
			return aq, fmt.Errorf("failed to parse receiver param: %w", err)
		}
		aq.receiver = re
	}
	return aq, nil
}

// parseFilter reads the filter parameters, one matcher each, in mode.
func parseFilter(mode matcher.Mode, filters []string) (matcher.Matchers, error) {
	var ms matcher.Matchers
	for _, f := range filters {
		m, err := mode.ParseOne(f)
		if err != nil {
			return nil, fmt.Errorf("bad matcher %q: %w", f, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// matchesFilter applies the API's filter matchers as Alertmanager does: a
// matcher for the empty value is skipped when its label is absent (=, =~)
// or present (!=, !~).
func matchesFilter(filter matcher.Matchers, ls model.LabelSet) bool {
	for _, m := range filter {
		v, present := ls[model.LabelName(m.Name)]
		negative := m.Type == matcher.NotEqual || m.Type == matcher.NotRegexp
		if m.Value == "" && present == negative {
			continue
		}
		if !m.Matches(string(v)) {
			return false
		}
	}
	return true
}

// keep reports whether an alert with status st passes the query's flags and
// filter (the resolved alerts are dropped before).
func (q alertQuery) keep(st mute.Status, ls model.LabelSet) bool {
	switch {
	case !q.active && st.State() == "active",
		!q.silenced && len(st.SilencedBy) > 0,
		!q.inhibited && len(st.InhibitedBy) > 0:
		return false
	}
	return matchesFilter(q.filter, ls)
}

func (q alertQuery) receiverMatches(names ...string) bool {
	return q.receiver == nil || slices.ContainsFunc(names, q.receiver.MatchString)
}

// listed reports whether the API lists an alert at now: resolved alerts are
// not (Alertmanager drops an alert whose end lies in the past).
func listed(a *alert.Alert, now time.Time) bool {
	return a.EndsAt.IsZero() || !a.EndsAt.Before(now)
}

// evaluation is what one read request judges alerts with: one instant, one
// config, one inhibition view.
type evaluation struct {
	now  time.Time
	ev   *mute.Evaluator
	tree *route.Tree
}

func (srv *API) evaluation(ctx context.Context) (*evaluation, error) {
	now := srv.opts.Now().UTC()
	if err := srv.opts.Silences.Synced(ctx); err != nil {
		return nil, err
	}
	ev, err := srv.opts.Muter.Evaluator(ctx, now)
	if err != nil {
		return nil, err
	}
	tree, err := srv.trees.Tree(ev.Config())
	if err != nil {
		return nil, err
	}
	return &evaluation{now: now, ev: ev, tree: tree}, nil
}

func (e *evaluation) receivers(routes []contract.Route) []apiReceiver {
	out := make([]apiReceiver, 0, len(routes))
	for _, r := range routes {
		out = append(out, apiReceiver{Name: r.Receiver})
	}
	return out
}

func toAPIAlert(a *alert.Alert, st mute.Status, receivers []apiReceiver) gettableAlert {
	ann := a.Annotations
	if ann == nil {
		ann = model.LabelSet{}
	}
	return gettableAlert{
		Labels: a.Labels, Annotations: ann,
		StartsAt: a.StartsAt.UTC(), EndsAt: a.EndsAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
		GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint().String(), Receivers: receivers,
		Status: apiAlertStatus{
			State: st.State(), SilencedBy: nonNil(st.SilencedBy), InhibitedBy: nonNil(st.InhibitedBy), MutedBy: nonNil(st.MutedBy),
		},
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// startRead parses an alert read's query, waits for the writes before it
// (readYourWrites) and takes the evaluation it judges alerts with; on
// failure it has answered and ok is false.
func (srv *API) startRead(ctx context.Context, w http.ResponseWriter, r *http.Request, what string) (q alertQuery, e *evaluation, ok bool) {
	q, err := parseAlertQuery(r, srv.opts.Matchers)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return q, nil, false
	}
	srv.readYourWrites(ctx)
	if e, err = srv.evaluation(ctx); err != nil {
		srv.readFailed(w, what, err)
		return q, nil, false
	}
	return q, e, true
}

// getAlerts is GET /api/v2/alerts: the alerts that are not resolved, with
// their receivers and their status now, sorted by fingerprint. Every ingest
// replica answers from its watched copies of the same buckets.
func (srv *API) getAlerts(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	q, e, ok := srv.startRead(ctx, w, r, "alerts")
	if !ok {
		return
	}
	all, _ := srv.opts.Alerts.Values()
	out := []gettableAlert{}
	for _, a := range all {
		if !listed(a, e.now) {
			continue
		}
		routes := e.tree.Matched(a.Labels)
		receivers := e.receivers(routes)
		if !q.receiverMatches(names(receivers)...) {
			continue
		}
		st, err := e.ev.Status(ctx, a.Labels, routes)
		if err != nil {
			srv.readFailed(w, "alerts", err)
			return
		}
		if !q.keep(st, a.Labels) {
			continue
		}
		out = append(out, toAPIAlert(a, st, receivers))
	}
	slices.SortFunc(out, func(a, b gettableAlert) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	writeJSON(w, http.StatusOK, out)
}

// readYourWrites waits (bounded) until the alerts stored before this read
// are in dedup's state; if that cannot be known, the read answers from what
// is there and says so in the log.
func (srv *API) readYourWrites(ctx context.Context) {
	ok, err := srv.caughtUp(ctx)
	switch {
	case err != nil:
		srv.log.Debug("read without waiting for stored alerts", "err", err)
	case !ok:
		srv.log.Debug("read answered before dedup took in every stored alert", "waited", readYourWritesTimeout)
	}
}

func names(rs []apiReceiver) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

// getAlertGroups is GET /api/v2/alerts/groups: the grouper's aggregation
// groups (KV klaxon-groups) with their listed alerts in their current state;
// a group without any is left out. mutedBy names the time intervals muting
// the group now.
func (srv *API) getAlertGroups(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	q, e, ok := srv.startRead(ctx, w, r, "alert groups")
	if !ok {
		return
	}
	groups, err := srv.groups(ctx)
	if err != nil {
		srv.readFailed(w, "alert groups", err)
		return
	}
	out := []alertGroup{}
	for _, g := range groups {
		ag, ok, err := srv.groupView(ctx, e, q, g)
		if err != nil {
			srv.readFailed(w, "alert groups", err)
			return
		}
		if ok {
			out = append(out, ag)
		}
	}
	slices.SortFunc(out, func(a, b alertGroup) int {
		switch {
		case !a.Labels.Equal(b.Labels):
			if a.Labels.Before(b.Labels) {
				return -1
			}
			return 1
		default:
			return strings.Compare(a.Receiver.Name, b.Receiver.Name)
		}
	})
	writeJSON(w, http.StatusOK, out)
}

// groupView is one aggregation group as the API shows it, with its listed
// alerts in their current state; ok is false when the query leaves the
// group out (or nothing of it is listed).
func (srv *API) groupView(ctx context.Context, e *evaluation, q alertQuery, g contract.Group) (ag alertGroup, ok bool, err error) {
	if !q.receiverMatches(g.Route.Receiver) {
		return ag, false, nil
	}
	mutedBy, err := e.ev.MutedBy(g.Route)
	if err != nil || (!q.muted && len(mutedBy) > 0) {
		return ag, false, err
	}
	ag = alertGroup{Labels: g.Route.GroupLabels, Receiver: apiReceiver{Name: g.Route.Receiver}, Alerts: []gettableAlert{}}
	if ag.Labels == nil {
		ag.Labels = model.LabelSet{}
	}
	for fp, a := range g.Alerts {
		if cur, ok := srv.opts.Alerts.Get(fp); ok {
			a = cur // the group's copy is as of its last change; refreshes are in the alerts bucket
		}
		if !listed(a, e.now) {
			continue
		}
		st, err := e.ev.Status(ctx, a.Labels, nil)
		if err != nil {
			return ag, false, err
		}
		st.MutedBy = mutedBy
		if q.keep(st, a.Labels) {
			ag.Alerts = append(ag.Alerts, toAPIAlert(a, st, e.receivers(e.tree.Matched(a.Labels))))
		}
	}
	slices.SortFunc(ag.Alerts, func(a, b gettableAlert) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	return ag, len(ag.Alerts) > 0, nil
}

// groups reads every aggregation group: the grouper writes a group's state
// ("<id>") and each of its alerts ("<id>.<fingerprint>") as values of their
// own.
func (srv *API) groups(ctx context.Context) (map[string]contract.Group, error) {
	values, err := kvcache.Snapshot(ctx, srv.opts.JS, contract.BucketGroups, func(e jetstream.KeyValueEntry) ([]byte, error) { return e.Value(), nil })
	if err != nil {
		return nil, err
	}
	groups := map[string]contract.Group{}
	for key, v := range values {
		if _, _, member := strings.Cut(key, "."); member {
			continue
		}
		var g contract.Group
		if err := json.Unmarshal(v, &g); err != nil {
			return nil, fmt.Errorf("group %s: %w", key, err)
		}
		if g.Alerts == nil {
			g.Alerts = map[string]*alert.Alert{}
		}
		groups[key] = g
	}
	for key, v := range values {
		id, fp, member := strings.Cut(key, ".")
		g, ok := groups[id]
		if !member || !ok || fp == contract.GroupNotifiedKey {
			continue
		}
		a := new(alert.Alert)
		if err := json.Unmarshal(v, a); err != nil {
			return nil, fmt.Errorf("group %s alert %s: %w", id, fp, err)
		}
		g.Alerts[fp] = a
	}
	return groups, nil
}
