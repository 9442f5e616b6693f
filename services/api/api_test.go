package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/inhibit"
	"github.com/klaxon-alerts/klaxon/pkg/kvcache"
	"github.com/klaxon-alerts/klaxon/pkg/mute"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/peers"
	"github.com/klaxon-alerts/klaxon/pkg/silencestore"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
	"github.com/klaxon-alerts/klaxon/services/api"
	"github.com/klaxon-alerts/klaxon/services/ingest"
)

const apiConfig = `global:
  slack_api_url: https://hooks.slack.com/services/T0/B0/globalsecret
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: [team="db"]
      receiver: db
      mute_time_intervals: [always]
receivers:
  - name: default
    webhook_configs:
      - url: http://127.0.0.1:1/hook?token=webhooksecret
  - name: db
    webhook_configs:
      - &hook
        url: https://hooks.example.com/anchoredsecret
        http_config:
          basic_auth: {username: u, password: basicsecret}
      - *hook
    slack_configs:
      - channel: '#db'
time_intervals:
  - name: always
    time_intervals:
      - times: [{start_time: '00:00', end_time: '24:00'}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [instance]
`

// secrets are the secret values in apiConfig; none may be served.
var secrets = []string{"globalsecret", "webhooksecret", "anchoredsecret", "basicsecret"}

var apiNow = time.Now().UTC().Truncate(time.Second)

// replica is one API replica (with ingest's write path) and its own
// watched copies.
type replica struct {
	url string
	js  jetstream.JetStream
}

func newAPI(t *testing.T, js jetstream.JetStream, cfg *config.Config) *replica {
	t.Helper()
	current := func() *config.Config { return cfg }
	start := time.Now()
	now := func() time.Time { return apiNow.Add(time.Since(start)) }
	sils, err := silencestore.New(silencestore.Options{JS: js, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	alerts := kvcache.NewAlerts(js, nil, nil)
	m, err := mute.New(mute.Options{Config: current, Silences: sils, Inhibitor: inhibit.New(alerts, current)})
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Options{JS: js, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	// This replica's process runs ingest only, as in the compose
	// deployment; the cluster is ready once the other stages join.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	member := joinPeers(t, ctx, &wg, js, contract.StageIngest)
	reads, err := api.New(api.Options{JS: js, Now: now, Config: current, Silences: sils, Alerts: alerts, Muter: m,
		Peers: member.KV(), PeerName: member.Self().Name})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	wg.Go(func() { _ = sils.Run(ctx) })
	wg.Go(func() { _ = alerts.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	mux := http.NewServeMux()
	in.Register(mux)
	reads.Register(mux)
	h := httptest.NewServer(mux)
	t.Cleanup(h.Close)
	return &replica{url: h.URL, js: js}
}

// joinPeers announces a process running stages in the peers bucket until
// ctx is done; wg waits for it to leave.
func joinPeers(t *testing.T, ctx context.Context, wg *sync.WaitGroup, js jetstream.JetStream, stages ...string) *peers.Member {
	t.Helper()
	kv, err := js.KeyValue(ctx, contract.BucketPeers)
	if err != nil {
		t.Fatal(err)
	}
	self := peers.Peer{ID: peers.NewID(), Address: "127.0.0.1:9093", Stages: stages}
	member, err := peers.Join(ctx, kv, self, time.Second, time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(member.Wait)
	return member
}

func apiSetup(t *testing.T) (*replica, *config.Config) {
	t.Helper()
	_, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(apiConfig), "")
	if err != nil {
		t.Fatal(err)
	}
	return newAPI(t, js, cfg), cfg
}

func (a *replica) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, a.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (a *replica) get(t *testing.T, path string, v any) {
	t.Helper()
	code, body := a.do(t, http.MethodGet, path, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// putAlert stores an alert as the dedup stage does.
func (a *replica) putAlert(t *testing.T, al alert.Alert) string {
	t.Helper()
	kv, err := a.js.KeyValue(t.Context(), contract.BucketAlerts)
	if err != nil {
		t.Fatal(err)
	}
	fp := al.Fingerprint().String()
	b, _ := json.Marshal(al)
	if _, err := kv.Put(t.Context(), fp, b); err != nil {
		t.Fatal(err)
	}
	return fp
}

func mkAlert(labels ...string) alert.Alert {
	ls := model.LabelSet{}
	for i := 0; i+1 < len(labels); i += 2 {
		ls[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	return alert.Alert{Labels: ls, StartsAt: apiNow.Add(-time.Hour), EndsAt: apiNow.Add(time.Hour), UpdatedAt: apiNow.Add(-time.Minute)}
}

type apiAlert struct {
	Labels      map[string]string   `json:"labels"`
	Fingerprint string              `json:"fingerprint"`
	Receivers   []map[string]string `json:"receivers"`
	Status      struct {
		State       string   `json:"state"`
		SilencedBy  []string `json:"silencedBy"`
		InhibitedBy []string `json:"inhibitedBy"`
		MutedBy     []string `json:"mutedBy"`
	} `json:"status"`
}

// waitAlerts polls GET path until it lists n alerts.
func (a *replica) waitAlerts(t *testing.T, path string, n int) []apiAlert {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []apiAlert
		a.get(t, path, &got)
		if len(got) == n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s lists %d alerts, want %d: %+v", path, len(got), n, got)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

func (a *replica) postSilence(t *testing.T, body string) string {
	t.Helper()
	code, resp := a.do(t, http.MethodPost, "/api/v2/silences", body)
	if code != http.StatusOK {
		t.Fatalf("POST silence = %d %s", code, resp)
	}
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	if err := json.Unmarshal([]byte(resp), &out); err != nil || out.SilenceID == "" {
		t.Fatalf("POST silence answer %s: %v", resp, err)
	}
	return out.SilenceID
}

func silenceJSON(id string, start, end time.Time, matchers string) string {
	idField := ""
	if id != "" {
		idField = fmt.Sprintf(`"id":%q,`, id)
	}
	return fmt.Sprintf(`{%s"matchers":%s,"startsAt":%q,"endsAt":%q,"createdBy":"alice","comment":"maintenance"}`,
		idField, matchers, start.Format(time.RFC3339), end.Format(time.RFC3339))
}

func TestGetAlertsStatusAndFilters(t *testing.T) {
	a, _ := apiSetup(t)
	crit := a.putAlert(t, mkAlert("alertname", "NodeDown", "severity", "critical", "instance", "db1"))
	warn := a.putAlert(t, mkAlert("alertname", "Disk", "severity", "warning", "instance", "db1"))
	dbAlert := mkAlert("alertname", "Slow", "team", "db")
	dbAlert.Annotations = model.LabelSet{"summary": "slow"}
	db := a.putAlert(t, dbAlert)
	old := mkAlert("alertname", "Gone")
	old.EndsAt = apiNow.Add(-time.Minute)
	a.putAlert(t, old)
	sil := a.postSilence(t, silenceJSON("", apiNow.Add(-time.Minute), apiNow.Add(time.Hour), `[{"name":"alertname","value":"Slow","isRegex":false}]`))

	all := a.waitAlerts(t, "/api/v2/alerts", 3) // the resolved one is not listed
	byFP := map[string]apiAlert{}
	for i, x := range all {
		byFP[x.Fingerprint] = x
		if i > 0 && all[i-1].Fingerprint > x.Fingerprint {
			t.Errorf("alerts not sorted by fingerprint")
		}
	}
	if s := byFP[crit].Status; s.State != "active" || len(s.SilencedBy)+len(s.InhibitedBy)+len(s.MutedBy) != 0 {
		t.Errorf("critical alert status %+v", s)
	}
	if s := byFP[warn].Status; s.State != "suppressed" || !slices.Equal(s.InhibitedBy, []string{crit}) {
		t.Errorf("inhibited alert status %+v", s)
	}
	if s := byFP[db].Status; s.State != "suppressed" || !slices.Equal(s.SilencedBy, []string{sil}) || !slices.Equal(s.MutedBy, []string{"always"}) {
		t.Errorf("silenced alert status %+v", s)
	}
	if r := byFP[db].Receivers; len(r) != 1 || r[0]["name"] != "db" {
		t.Errorf("receivers %v", r)
	}

	for query, want := range map[string][]string{
		"?silenced=false":                  {crit, warn},
		"?inhibited=false":                 {crit, db},
		"?silenced=false&inhibited=false":  {crit},
		"?active=false":                    {warn, db},
		"?receiver=db":                     {db},
		"?receiver=d.*":                    {crit, warn, db},
		"?filter=severity%3D~%22crit.*%22": {crit},
		"?filter=alertname%21%3DDisk":      {crit, db},
		"?filter=instance%3D%22db1%22&filter=alertname=Disk": {warn},
		"?filter=team%3D%22%22":                              {crit, warn}, // empty value: the label is absent
		"?filter=team%21%3D%22%22":                           {db},         // not empty: the label is present
	} {
		var got []apiAlert
		a.get(t, "/api/v2/alerts"+query, &got)
		var fps []string
		for _, x := range got {
			fps = append(fps, x.Fingerprint)
		}
		slices.Sort(want)
		if !slices.Equal(fps, want) {
			t.Errorf("GET /api/v2/alerts%s = %v, want %v", query, fps, want)
		}
	}
	for _, bad := range []string{"?active=maybe", "?filter=%7B%7B", "?receiver=%28"} {
		if code, body := a.do(t, http.MethodGet, "/api/v2/alerts"+bad, ""); code != http.StatusBadRequest {
			t.Errorf("GET /api/v2/alerts%s = %d %s, want 400", bad, code, body)
		}
	}
}

func TestSilencesAPI(t *testing.T) {
	a, _ := apiSetup(t)
	ms := `[{"name":"alertname","value":"A","isRegex":false,"isEqual":true}]`
	id := a.postSilence(t, silenceJSON("", apiNow.Add(-time.Minute), apiNow.Add(time.Hour), ms))

	var got map[string]any
	a.get(t, "/api/v2/silence/"+id, &got)
	if got["id"] != id || got["status"].(map[string]any)["state"] != "active" || got["createdBy"] != "alice" {
		t.Fatalf("GET silence = %v", got)
	}

	// In-place update keeps the id; a matcher change replaces the silence.
	if upd := a.postSilence(t, silenceJSON(id, apiNow, apiNow.Add(2*time.Hour), ms)); upd != id {
		t.Fatalf("in-place update answered %s, want %s", upd, id)
	}
	repl := a.postSilence(t, silenceJSON(id, apiNow, apiNow.Add(2*time.Hour), `[{"name":"alertname","value":"B","isRegex":false}]`))
	if repl == id {
		t.Fatal("a matcher change kept the id")
	}

	for name, tc := range map[string]struct {
		body string
		code int
		want string
	}{
		"start equals end":    {silenceJSON("", apiNow.Add(time.Hour), apiNow.Add(time.Hour), ms), 400, "start time must be before end time"},
		"end in the past":     {silenceJSON("", apiNow.Add(-2*time.Hour), apiNow.Add(-time.Hour), ms), 400, "end time can't be in the past"},
		"only empty matchers": {silenceJSON("", apiNow, apiNow.Add(time.Hour), `[{"name":"a","value":"","isRegex":false}]`), 400, "must not match the empty string"},
		"unknown id":          {silenceJSON("7a6bd5b8-1f07-4b0c-9a0e-8a1ad4f5d2c1", apiNow, apiNow.Add(time.Hour), ms), 404, "not found"},
		"missing createdBy":   {`{"matchers":` + ms + `,"startsAt":"2026-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","comment":"c"}`, 422, "createdBy"},
		"no matchers":         {`{"matchers":[],"startsAt":"2026-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"a","comment":"c"}`, 422, "matchers"},
		"malformed":           {`{"matchers":`, 400, ""},
	} {
		code, body := a.do(t, http.MethodPost, "/api/v2/silences", tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: POST = %d %s, want %d with %q", name, code, body, tc.code, tc.want)
		}
	}

	// Filter by matchers: exact name, operator and value.
	var list []map[string]any
	a.get(t, "/api/v2/silences?filter=alertname%3DB", &list)
	if len(list) != 1 || list[0]["id"] != repl {
		t.Fatalf("filtered silences = %v", list)
	}
	a.get(t, "/api/v2/silences", &list)
	if len(list) != 2 || list[0]["id"] != repl || list[1]["status"].(map[string]any)["state"] != "expired" {
		t.Fatalf("silences (active first, then expired) = %v", list)
	}

	// Expire, then the unknown and malformed cases.
	if code, body := a.do(t, http.MethodDelete, "/api/v2/silence/"+repl, ""); code != http.StatusOK {
		t.Fatalf("DELETE = %d %s", code, body)
	}
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/api/v2/silence/7a6bd5b8-1f07-4b0c-9a0e-8a1ad4f5d2c1", 404},
		{http.MethodDelete, "/api/v2/silence/7a6bd5b8-1f07-4b0c-9a0e-8a1ad4f5d2c1", 404},
		{http.MethodGet, "/api/v2/silence/not-a-uuid", 422},
		{http.MethodDelete, "/api/v2/silence/not-a-uuid", 422},
		{http.MethodGet, "/api/v2/silences?filter=%7B", 400},
	} {
		if code, body := a.do(t, tc.method, tc.path, ""); code != tc.code {
			t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, code, body, tc.code)
		}
	}
}

// Any number of ingest replicas serve the same answers: a silence posted
// through one is listed by the other, and mutes alerts there.
func TestReplicasServeTheSameAnswers(t *testing.T) {
	a, cfg := apiSetup(t)
	b := newAPI(t, a.js, cfg)
	fp := a.putAlert(t, mkAlert("alertname", "A"))
	id := a.postSilence(t, silenceJSON("", apiNow, apiNow.Add(time.Hour), `[{"name":"alertname","value":"A","isRegex":false}]`))
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []apiAlert
		b.get(t, "/api/v2/alerts", &got)
		if len(got) == 1 && got[0].Fingerprint == fp && slices.Equal(got[0].Status.SilencedBy, []string{id}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica b lists %+v", got)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	var sa, sb []map[string]any
	a.get(t, "/api/v2/silences", &sa)
	b.get(t, "/api/v2/silences", &sb)
	if fmt.Sprint(sa) != fmt.Sprint(sb) {
		t.Fatalf("replicas differ:\n%v\n%v", sa, sb)
	}
}

func TestAlertGroups(t *testing.T) {
	a, _ := apiSetup(t)
	ctx := t.Context()
	kv, err := a.js.KeyValue(ctx, contract.BucketGroups)
	if err != nil {
		t.Fatal(err)
	}
	db := mkAlert("alertname", "Slow", "team", "db")
	plain := mkAlert("alertname", "Disk")
	put := func(r contract.Route, alerts ...alert.Alert) {
		// A klaxon-groups value as the grouper writes it: the contract's
		// part plus the grouper's own fields, which readers ignore.
		g := struct {
			contract.Group
			FlushSeq int `json:"flushSeq"`
		}{Group: contract.Group{ID: r.ID + r.GroupKey, Route: r, Alerts: map[string]*alert.Alert{}}, FlushSeq: 3}
		for _, x := range alerts {
			g.Alerts[x.Fingerprint().String()] = &x
		}
		b, _ := json.Marshal(g)
		if _, err := kv.Put(ctx, fmt.Sprintf("%x", sha256.Sum256([]byte(g.ID)))[:32], b); err != nil {
			t.Fatal(err)
		}
	}
	put(contract.Route{ID: "{}/{team=\"db\"}/0", Receiver: "db", GroupKey: `{}/{team="db"}:{alertname="Slow"}`,
		GroupLabels: model.LabelSet{"alertname": "Slow"}, MuteTimeIntervals: []string{"always"}}, db)
	put(contract.Route{ID: "{}", Receiver: "default", GroupKey: `{}:{alertname="Disk"}`, GroupLabels: model.LabelSet{"alertname": "Disk"}}, plain)
	// The alerts bucket has a newer state of the plain alert: it is served.
	plain.Annotations = model.LabelSet{"summary": "fresh"}
	a.putAlert(t, plain)
	a.putAlert(t, db)

	type group struct {
		Labels   map[string]string `json:"labels"`
		Receiver struct {
			Name string `json:"name"`
		} `json:"receiver"`
		Alerts []struct {
			Annotations map[string]string `json:"annotations"`
			Status      struct {
				MutedBy []string `json:"mutedBy"`
			} `json:"status"`
		} `json:"alerts"`
	}
	var groups []group
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.get(t, "/api/v2/alerts/groups", &groups)
		if len(groups) == 2 && groups[0].Alerts[0].Annotations["summary"] == "fresh" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("groups = %+v", groups)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	if groups[0].Labels["alertname"] != "Disk" || groups[1].Receiver.Name != "db" || !slices.Equal(groups[1].Alerts[0].Status.MutedBy, []string{"always"}) {
		t.Fatalf("groups = %+v", groups)
	}
	a.get(t, "/api/v2/alerts/groups?muted=false", &groups)
	if len(groups) != 1 || groups[0].Receiver.Name != "default" {
		t.Fatalf("unmuted groups = %+v", groups)
	}
	a.get(t, "/api/v2/alerts/groups?receiver=db", &groups)
	if len(groups) != 1 || groups[0].Receiver.Name != "db" {
		t.Fatalf("groups of db = %+v", groups)
	}
}

type peerStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

// The status lists the live processes as the cluster's peers, names this
// one, and is ready once every stage has a live replica.
func TestStatusAndReceivers(t *testing.T) {
	a, _ := apiSetup(t)
	var st struct {
		Cluster struct {
			Name   string       `json:"name"`
			Status string       `json:"status"`
			Peers  []peerStatus `json:"peers"`
		} `json:"cluster"`
		VersionInfo map[string]string `json:"versionInfo"`
		Config      struct {
			Original string `json:"original"`
		} `json:"config"`
		Uptime time.Time `json:"uptime"`
	}
	a.get(t, "/api/v2/status", &st)
	if st.Cluster.Status != "settling" || len(st.Cluster.Peers) != 1 || st.Cluster.Peers[0].Name != st.Cluster.Name || st.Cluster.Peers[0].Address != "127.0.0.1:9093" {
		t.Fatalf("cluster of an ingest-only process alone = %+v, want settling with that peer", st.Cluster)
	}
	// The other stages' process joins: every stage has a live replica.
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	other := joinPeers(t, ctx, &wg, a.js, contract.Stages[1:]...)
	a.get(t, "/api/v2/status", &st)
	if st.Cluster.Status != "ready" || len(st.Cluster.Peers) != 2 || !slices.ContainsFunc(st.Cluster.Peers, func(p peerStatus) bool { return p.Name == other.Self().Name }) {
		t.Fatalf("cluster with every stage live = %+v, want ready with both peers", st.Cluster)
	}
	if st.VersionInfo["goVersion"] == "" || st.Uptime.Before(apiNow) || st.Uptime.After(apiNow.Add(time.Minute)) {
		t.Fatalf("status = %+v", st)
	}
	for _, s := range secrets {
		if strings.Contains(st.Config.Original, s) {
			t.Errorf("config.original shows the secret %q:\n%s", s, st.Config.Original)
		}
	}
	// The original stays readable as a configuration, secrets masked, and
	// means what the file means.
	back, err := config.Parse([]byte(st.Config.Original), "")
	if err != nil {
		t.Fatalf("config.original does not parse: %v\n%s", err, st.Config.Original)
	}
	hooks := back.Receiver("db").WebhookConfigs
	if len(hooks) != 2 || hooks[1].URL.String() != "https://<secret>" && !strings.Contains(hooks[1].URL.String(), "secret") {
		t.Errorf("anchored webhook after masking: %+v", hooks)
	}
	if strings.Contains(st.Config.Original, "password: basicsecret") || !strings.Contains(st.Config.Original, "<secret>") {
		t.Errorf("basic auth password not masked:\n%s", st.Config.Original)
	}
	if back.Route.Routes[0].MuteTimeIntervals[0] != "always" || len(back.InhibitRules) != 1 {
		t.Errorf("config.original lost content:\n%s", st.Config.Original)
	}

	var rcv []map[string]string
	a.get(t, "/api/v2/receivers", &rcv)
	if fmt.Sprint(rcv) != "[map[name:default] map[name:db]]" {
		t.Fatalf("receivers = %v", rcv)
	}
}

// The masking never shows a URL's secret part, whatever its shape.
func TestMaskedURLKeepsOnlyTheScheme(t *testing.T) {
	a, _ := apiSetup(t)
	var st struct {
		Config struct {
			Original string `json:"original"`
		} `json:"config"`
	}
	a.get(t, "/api/v2/status", &st)
	for _, line := range strings.Split(st.Config.Original, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "- url: "); ok {
			u, err := url.Parse(v)
			if err != nil || u.Host != "<secret>" || u.Path != "" || u.RawQuery != "" {
				t.Errorf("masked url %q", v)
			}
		}
	}
}
