package jira

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/jira/jiratest"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// newJira starts a fake Jira whose clock stands at the notifications'
// flush time.
func newJira(t *testing.T) *jiratest.Server {
	j := jiratest.NewServer(t)
	j.Now = func() time.Time { return nt.T0 }
	return j
}

// newNotifier builds the notifier of a project OPS at apiURL (the fake's
// URL and /rest/api/2/ when "") with extra configuration lines, its clock
// at the notifications' flush time.
func newNotifier(t *testing.T, j *jiratest.Server, apiURL, extra string) *Notifier {
	t.Helper()
	if apiURL == "" {
		apiURL = j.URL + "/rest/api/2/"
	}
	n, _ := nt.Build(t, "", fmt.Sprintf(`    jira_configs:
      - api_url: %s
        project: OPS
        issue_type: Bug
        labels: ['{{ .CommonLabels.severity }}']
        resolve_transition: Done
        summary: {template: '{{ template "jira.default.summary" . }}', enable_update: false}
        fields:
          customfield_10001: {value: '{{ .CommonLabels.instance }}'}%s`, apiURL, extra),
		func(r *config.Receiver) *config.JiraConfig { return r.JiraConfigs[0] }, New)
	n.now = func() time.Time { return nt.T0 }
	return n
}

func calls(j *jiratest.Server) string { return strings.Join(j.Calls(), ", ") }

// send notifies, failing the test on an error, and returns the issue key
// kept for the notification log ("" for none).
func send(t *testing.T, n *Notifier, note *notification.Notification) string {
	t.Helper()
	sent, _, err := n.NotifyMessage(t.Context(), note)
	if err != nil {
		t.Fatal(err)
	}
	if sent == nil {
		return ""
	}
	return sent.ID
}

func firing() *notification.Notification   { return nt.Notification(nt.Alert("web-1", false)) }
func resolved() *notification.Notification { return nt.Notification(nt.Alert("web-1", true)) }

// The first notification creates the issue (its key kept), the next one
// updates that issue without searching (summary left out: enable_update
// false), the resolution transitions it to Done. A replica without the
// key finds the issue by its label.
func TestIssueLifecycle(t *testing.T) {
	j := newJira(t)
	n := newNotifier(t, j, "", "")

	note := firing()
	if key := send(t, n, note); key != "OPS-1" {
		t.Fatalf("create: issue %q", key)
	}
	created, _ := json.MarshalIndent(map[string]any{"fields": j.Issue("OPS-1").Fields}, "", "  ")
	nt.Golden(t, "create.json", created)

	note.Message = &notification.Message{Channel: "OPS", ID: "OPS-1"}
	send(t, n, note)
	if put := j.Requests()[len(j.Requests())-1]; strings.Contains(string(put.Body), `"summary"`) {
		t.Errorf("update sets the summary: %s", put.Body)
	}

	if key := send(t, n, resolved()); key != "OPS-1" { // another replica: no key kept
		t.Fatalf("resolve: issue %q", key)
	}
	if i := j.Issue("OPS-1"); !i.Done || i.Resolution != "Done" || i.Updates != 2 {
		t.Errorf("issue %+v: want done, resolved Done, updated twice", i)
	}
	want := "POST search, POST issue, GET issue/OPS-1, PUT issue/OPS-1, POST search, PUT issue/OPS-1, GET issue/OPS-1/transitions, POST issue/OPS-1/transitions"
	if got := calls(j); got != want {
		t.Errorf("calls\n%s\nwant\n%s", got, want)
	}

	// Firing again after Done without a reopen transition: a new issue.
	if key := send(t, n, firing()); key != "OPS-2" {
		t.Fatalf("refire: issue %q, want a new one", key)
	}
}

// With reopen_transition and reopen_duration, a group firing again finds
// its issue resolved within the duration and reopens it, by search and by
// the key in the log alike; an issue resolved longer ago stays closed and
// a new one is opened.
func TestReopenDuration(t *testing.T) {
	j := newJira(t)
	n := newNotifier(t, j, "", "\n        reopen_transition: Reopen\n        reopen_duration: 1h")

	send(t, n, firing())
	send(t, n, resolved()) // Done at T0
	if !j.Issue("OPS-1").Done {
		t.Fatal("not resolved")
	}
	search := j.Requests()[len(j.Requests())-4] // search, PUT, GET transitions, POST transition
	if jql := search.JSON(t)["jql"].(string); !strings.Contains(jql, "statusCategory != Done") {
		t.Errorf("a resolved group searches %q: want open issues only", jql)
	}

	before := len(j.Requests())
	if key := send(t, n, firing()); key != "OPS-1" {
		t.Fatalf("refire within the hour: issue %q, want OPS-1 reopened", key)
	}
	if jql := j.Requests()[before].JSON(t)["jql"].(string); !strings.Contains(jql, "(resolutiondate is EMPTY OR resolutiondate >= -60m)") {
		t.Errorf("jql %q: want issues resolved within 60 minutes", jql)
	}
	if i := j.Issue("OPS-1"); i.Done || i.Resolution != "" {
		t.Errorf("issue %+v: want reopened", i)
	}

	// Resolved again, by hand, two hours ago: by search and by the key
	// kept, a new issue.
	j.Resolve("OPS-1", "Done", nt.T0.Add(-2*time.Hour))
	if key := send(t, n, firing()); key != "OPS-2" {
		t.Fatalf("refire after the hour: issue %q, want a new one", key)
	}
	j.Resolve("OPS-2", "Done", nt.T0.Add(-61*time.Minute))
	kept := firing()
	kept.Message = &notification.Message{Channel: "OPS", ID: "OPS-2"}
	if key := send(t, n, kept); key != "OPS-3" {
		t.Fatalf("refire with the key kept: issue %q, want a new one", key)
	}
	// Resolved 59 minutes ago, key kept: reopened without a search.
	j.Resolve("OPS-3", "Done", nt.T0.Add(-59*time.Minute))
	kept.Message = &notification.Message{Channel: "OPS", ID: "OPS-3"}
	before = len(j.Requests())
	if key := send(t, n, kept); key != "OPS-3" || j.Issue("OPS-3").Done {
		t.Fatalf("refire with the key kept: issue %q (done %v), want OPS-3 reopened", key, j.Issue("OPS-3").Done)
	}
	if got := strings.Join(j.Calls()[before:], ", "); got != "GET issue/OPS-3, PUT issue/OPS-3, GET issue/OPS-3/transitions, POST issue/OPS-3/transitions" {
		t.Errorf("calls %s", got)
	}
}

// An issue resolved as wont_fix_resolution is never reopened nor updated:
// a firing group opens a new issue, even within reopen_duration and with
// the key kept. Open issues are still found (JQL's != alone would drop
// their empty resolution).
func TestWontFixResolution(t *testing.T) {
	j := newJira(t)
	n := newNotifier(t, j, "", "\n        reopen_transition: Reopen\n        reopen_duration: 1h\n        wont_fix_resolution: \"Won't Fix\"")

	send(t, n, firing())
	if key := send(t, n, firing()); key != "OPS-1" {
		t.Fatalf("open issue not found: %q", key)
	}
	if jql := j.Requests()[len(j.Requests())-2].JSON(t)["jql"].(string); !strings.HasPrefix(jql, `(resolution is EMPTY or resolution != "Won't Fix") and `) {
		t.Errorf("jql %q", jql)
	}

	j.Resolve("OPS-1", "Won't Fix", nt.T0.Add(-time.Minute))
	if key := send(t, n, firing()); key != "OPS-2" {
		t.Fatalf("refire after Won't Fix: issue %q, want a new one", key)
	}
	j.Resolve("OPS-2", "Won't Fix", nt.T0.Add(-time.Minute))
	kept := firing()
	kept.Message = &notification.Message{Channel: "OPS", ID: "OPS-2"}
	if key := send(t, n, kept); key != "OPS-3" {
		t.Fatalf("refire after Won't Fix, key kept: issue %q, want a new one", key)
	}
	if j.Issue("OPS-1").Updates != 1 || j.Issue("OPS-2").Updates != 0 || !j.Issue("OPS-2").Done {
		t.Errorf("a Won't Fix issue was updated or reopened: %+v %+v", j.Issue("OPS-1"), j.Issue("OPS-2"))
	}
}

// With an API v3 URL the description is Atlassian Document Format: the
// rendered template is sent as JSON, and a description that is not JSON
// is a final template failure sent nowhere. Jira Cloud searches through
// /rest/api/3/search/jql.
func TestAPIv3Description(t *testing.T) {
	j := newJira(t)
	adf := `\n        api_type: cloud\n        description: '{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"{{ .CommonLabels.instance }} is slow"}]}]}'`
	n := newNotifier(t, j, j.URL+"/rest/api/3/", strings.ReplaceAll(adf, `\n`, "\n"))
	if key := send(t, n, firing()); key != "OPS-1" {
		t.Fatalf("create: %q", key)
	}
	var doc struct {
		Type    string `json:"type"`
		Content []struct {
			Content []struct{ Text string } `json:"content"`
		} `json:"content"`
	}
	if err := json.Unmarshal(j.Issue("OPS-1").Fields["description"], &doc); err != nil || doc.Type != "doc" || doc.Content[0].Content[0].Text != "web-1 is slow" {
		t.Errorf("description %s (%v): want the rendered document", j.Issue("OPS-1").Fields["description"], err)
	}
	if r := j.Requests()[0]; r.Path != "/rest/api/3/search/jql" {
		t.Errorf("search at %s, want /rest/api/3/search/jql", r.Path)
	}

	j = newJira(t)
	n = newNotifier(t, j, j.URL+"/rest/api/3/", "\n        description: 'Latency on {{ .CommonLabels.instance }}'")
	retryable, err := n.Notify(t.Context(), firing())
	if reason, _ := notification.FailureReason(err); retryable || reason != notification.ReasonTemplate || !strings.Contains(err.Error(), "invalid JSON for API v3") {
		t.Errorf("retryable %v, err %v: want a final template failure", retryable, err)
	}
	if len(j.Requests()) != 0 {
		t.Errorf("requests sent: %v", j.Calls())
	}

	// With API v2 the same description is plain text; datacenter
	// searches through /search.
	j = newJira(t)
	n = newNotifier(t, j, "", "\n        api_type: datacenter\n        description: 'Latency on {{ .CommonLabels.instance }}'")
	send(t, n, firing())
	if d := string(j.Issue("OPS-1").Fields["description"]); d != `"Latency on web-1"` {
		t.Errorf("description %s", d)
	}
	if r := j.Requests()[0]; r.Path != "/rest/api/2/search" {
		t.Errorf("search at %s", r.Path)
	}
}

// A resolved group without an issue creates none; Jira's refusal is final
// with its error messages; a 5xx or 429 is retried.
func TestResolvedWithoutIssueAndRefusal(t *testing.T) {
	j := newJira(t)
	n := newNotifier(t, j, "", "")
	if key := send(t, n, resolved()); key != "" || len(j.Issues()) != 0 {
		t.Fatalf("issue %q for a resolved group", key)
	}
	for code, wantRetry := range map[int]bool{http.StatusBadRequest: false, http.StatusTooManyRequests: true, http.StatusServiceUnavailable: true} {
		srv := nt.NewServer(t, nt.Status(code, `{"errorMessages":[],"errors":{"issuetype":"valid issue type is required"}}`))
		n := newNotifier(t, j, srv.URL+"/rest/api/2/", "")
		retryable, err := n.Notify(t.Context(), firing())
		if retryable != wantRetry || err == nil || !strings.Contains(err.Error(), "issuetype: valid issue type is required") {
			t.Errorf("%d: retryable %v, err %v", code, retryable, err)
		}
	}
}
