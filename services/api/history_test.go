package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

func (a *replica) publish(t *testing.T, subject string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.js.Publish(t.Context(), subject, b); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

type historyAnswer struct {
	Events []struct {
		Kind         string   `json:"kind"`
		Fingerprints []string `json:"fingerprints"`
		Change       string   `json:"change"`
		Receiver     string   `json:"receiver"`
		Integration  string   `json:"integration"`
		FlushSeq     uint64   `json:"flushSeq"`
		Outcome      string   `json:"outcome"`
		Reason       string   `json:"reason"`
		SilencedBy   []string `json:"silencedBy"`
		DeadLetter   uint64   `json:"deadLetter"`
	} `json:"events"`
	Truncated bool `json:"truncated"`
}

// kinds is the answer as "kind[/outcome]" in order.
func (h historyAnswer) kinds() string {
	var out []string
	for _, e := range h.Events {
		k := e.Kind
		if e.Outcome != "" {
			k += "/" + e.Outcome
		}
		out = append(out, k)
	}
	return strings.Join(out, " ")
}

// The history of an alert, and of its group, is read from the streams in
// order: received, routed, each flush with the notification log's outcome,
// suppressions with their reasons, dead letters; another alert's events
// are left out.
func TestHistory(t *testing.T) {
	a, _ := apiSetup(t)
	db1, db2 := mkAlert("alertname", "DiskFull", "instance", "db1"), mkAlert("alertname", "DiskFull", "instance", "db2")
	fp1, fp2 := db1.Fingerprint().String(), db2.Fingerprint().String()
	rt := contract.Route{ID: "{}", Receiver: "team", GroupKey: `{}:{alertname="DiskFull"}`}
	in := contract.Integration{Receiver: "team", Type: "webhook"}
	a.publish(t, contract.SubjectAlertsChanged, contract.AlertChanged{Version: 1, Change: alert.ChangeNew, Fingerprint: fp1, Alert: db1})
	a.publish(t, contract.SubjectAlertsChanged, contract.AlertChanged{Version: 1, Change: alert.ChangeNew, Fingerprint: fp2, Alert: db2})
	a.publish(t, contract.SubjectAlertsRouted, contract.AlertRouted{Version: 1, Change: alert.ChangeNew, Fingerprint: fp1, Alert: db1, Route: rt})
	note := func(seq uint64, alerts ...alert.Alert) contract.Notification {
		return contract.Notification{Version: 1, Integration: in, GroupKey: rt.GroupKey, Alerts: alerts, FlushSeq: seq, FlushedAt: apiNow}
	}
	a.publish(t, contract.NotifySubject("webhook"), note(1, db1))
	a.publish(t, contract.NotifySubject("webhook"), note(2, db2)) // not db1's
	a.publish(t, contract.SuppressedSubject(contract.ReasonSilence), contract.Suppressed{Version: 1, Reason: contract.ReasonSilence,
		GroupKey: rt.GroupKey, Receiver: "team", Alerts: []contract.SuppressedAlert{{Fingerprint: fp1, Status: "firing", SilencedBy: []string{"sil-1"}}}})
	a.publish(t, contract.NotifySubject("webhook"), note(3, db1))
	payload, _ := json.Marshal(note(3, db1))
	a.publish(t, contract.DLQSubject(contract.StageNotifier), contract.DeadLetter{Version: 1, Stage: contract.StageNotifier,
		Subject: contract.NotifySubject("webhook"), Reason: "notify team/webhook[0]: 404", Payload: payload, FailedAt: apiNow})
	// The notification log records flush 2 as the group's last.
	kv, err := a.js.KeyValue(t.Context(), contract.BucketNflog)
	if err != nil {
		t.Fatal(err)
	}
	entry, _ := json.Marshal(map[string]any{"groupKey": rt.GroupKey, "integration": in, "flushSeq": 2})
	if _, err := kv.Put(t.Context(), "k1", entry); err != nil {
		t.Fatal(err)
	}

	var h historyAnswer
	a.get(t, "/api/klaxon/v1/history?fingerprint="+fp1, &h)
	if got, want := h.kinds(), "changed routed notification/superseded suppressed notification/dead_letter dead_letter"; got != want {
		t.Errorf("history of db1:\n got %s\nwant %s", got, want)
	}
	if len(h.Events) == 6 {
		if e := h.Events[3]; e.Reason != "silence" || fmt.Sprint(e.SilencedBy) != "[sil-1]" {
			t.Errorf("suppression: %+v", e)
		}
		if e := h.Events[5]; e.Integration != "webhook[0]" || e.FlushSeq != 3 || !strings.Contains(e.Reason, "404") || e.DeadLetter == 0 {
			t.Errorf("dead letter: %+v", e)
		}
	}
	h = historyAnswer{}
	a.get(t, "/api/klaxon/v1/history?groupKey="+strings.NewReplacer("{", "%7B", "}", "%7D", `"`, "%22", "=", "%3D").Replace(rt.GroupKey), &h)
	if got, want := h.kinds(), "routed notification/superseded notification/notified suppressed notification/dead_letter dead_letter"; got != want {
		t.Errorf("history of the group:\n got %s\nwant %s", got, want)
	}
	h = historyAnswer{}
	start := time.Now()
	a.get(t, "/api/klaxon/v1/history?fingerprint="+fp1+"&limit=2", &h)
	t.Logf("history read in %v", time.Since(start))
	if h.kinds() != "notification/dead_letter dead_letter" || !h.Truncated {
		t.Errorf("limit 2: %s truncated=%v", h.kinds(), h.Truncated)
	}
	h = historyAnswer{}
	a.get(t, "/api/klaxon/v1/history?fingerprint="+fp1+"&since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), &h)
	if len(h.Events) != 0 {
		t.Errorf("window after every event: %s", h.kinds())
	}
}

func TestKlaxonAPIBadInput(t *testing.T) {
	a, _ := apiSetup(t)
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/api/klaxon/v1/history", 400, "want fingerprint or groupKey"},
		{"/api/klaxon/v1/history?fingerprint=xyz", 400, "16 hex digits"},
		{"/api/klaxon/v1/history?fingerprint=0123456789abcdef&limit=0", 400, "limit must be"},
		{"/api/klaxon/v1/history?fingerprint=0123456789abcdef&since=yesterday", 400, "since must be"},
		{"/api/klaxon/v1/deadletters?stage=nope", 400, "unknown stage"},
		{"/api/klaxon/v1/deadletters/abc", 400, "positive integer"},
		{"/api/klaxon/v1/deadletters/99", 404, "not found"},
		{"/api/klaxon/v1/silence/not-a-uuid/history", 422, "uuid"},
		{"/api/klaxon/v1/silence/00000000-0000-0000-0000-000000000000/history", 404, "not found"},
	} {
		code, body := a.do(t, http.MethodGet, c.path, "")
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("GET %s = %d %s, want %d naming %q", c.path, code, body, c.code, c.want)
		}
	}
}

// Dead letters are listed, shown and redriven over HTTP as `klaxon dlq`
// does; a silence's audit trail names who created and expired it.
func TestDeadLettersAndSilenceHistory(t *testing.T) {
	a, _ := apiSetup(t)
	a.publish(t, contract.DLQSubject(contract.StageRouter), contract.DeadLetter{Version: 1, Stage: contract.StageRouter,
		Subject: contract.SubjectAlertsChanged, Reason: "bad event", Payload: []byte(`{"version":99}`), FailedAt: apiNow})
	var list []struct {
		ID      uint64 `json:"id"`
		Stage   string `json:"stage"`
		Reason  string `json:"reason"`
		Payload string `json:"payload"`
	}
	a.get(t, "/api/klaxon/v1/deadletters?stage=router", &list)
	if len(list) != 1 || list[0].Stage != "router" || list[0].Reason != "bad event" || list[0].Payload != "" {
		t.Fatalf("dead letters: %+v", list)
	}
	id := fmt.Sprint(list[0].ID)
	var one struct {
		Payload string `json:"payload"`
	}
	a.get(t, "/api/klaxon/v1/deadletters/"+id, &one)
	if one.Payload != `{"version":99}` {
		t.Errorf("payload: %q", one.Payload)
	}
	if code, body := a.do(t, http.MethodPost, "/api/klaxon/v1/deadletters/"+id+"/redrive", ""); code != 200 || !strings.Contains(body, contract.SubjectAlertsChanged) {
		t.Fatalf("redrive = %d %s", code, body)
	}
	if code, _ := a.do(t, http.MethodGet, "/api/klaxon/v1/deadletters/"+id, ""); code != 404 {
		t.Errorf("redriven dead letter still there: %d", code)
	}

	sid := a.postSilence(t, silenceJSON("", apiNow, apiNow.Add(time.Hour), `[{"name":"alertname","value":"X","isRegex":false,"isEqual":true}]`))
	req, _ := http.NewRequest(http.MethodDelete, a.url+"/api/v2/silence/"+sid, nil)
	req.Header.Set("X-Forwarded-User", "bob")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var revs []struct {
		Action  string `json:"action"`
		By      string `json:"by"`
		Silence struct {
			Comment string `json:"comment"`
		} `json:"silence"`
	}
	a.get(t, "/api/klaxon/v1/silence/"+sid+"/history", &revs)
	if len(revs) != 2 || revs[0].By != "alice" || revs[1].By != "bob" || revs[0].Silence.Comment != "maintenance" {
		t.Errorf("silence history: %+v", revs)
	}
}
