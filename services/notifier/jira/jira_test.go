package jira

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// fakeJira is an httptest Jira with one project: search by label, create,
// read, update and transition (Done, id 31; Reopen, id 41).
type fakeJira struct {
	*nt.Server
	mu     sync.Mutex
	issues map[string]*struct {
		labels []string
		done   bool
	}
	last []byte // the last create or update body
}

func newFakeJira(t *testing.T) *fakeJira {
	j := &fakeJira{issues: map[string]*struct {
		labels []string
		done   bool
	}{}}
	j.Server = nt.NewServer(t, func(w http.ResponseWriter, r nt.Request, _ int) {
		j.mu.Lock()
		defer j.mu.Unlock()
		path := strings.TrimPrefix(r.Path, "/rest/api/2/")
		var body struct {
			JQL    string `json:"jql"`
			Fields struct {
				Labels []string `json:"labels"`
			} `json:"fields"`
			Transition struct{ ID string } `json:"transition"`
		}
		_ = json.Unmarshal(r.Body, &body)
		view := func(key string) string {
			i := j.issues[key]
			cat := map[bool]string{true: "done", false: "new"}[i.done]
			labels, _ := json.Marshal(i.labels)
			return fmt.Sprintf(`{"key":%q,"fields":{"status":{"statusCategory":{"key":%q}},"labels":%s}}`, key, cat, labels)
		}
		switch {
		case r.Method == http.MethodPost && path == "search":
			var found []string
			for key, i := range j.issues {
				for _, l := range i.labels {
					if strings.Contains(body.JQL, fmt.Sprintf("labels=%q", l)) && (!i.done || !strings.Contains(body.JQL, "statusCategory != Done")) {
						found = append(found, view(key))
					}
				}
			}
			fmt.Fprintf(w, `{"issues":[%s]}`, strings.Join(found, ","))
		case r.Method == http.MethodPost && path == "issue":
			key := fmt.Sprintf("OPS-%d", len(j.issues)+1)
			j.issues[key] = &struct {
				labels []string
				done   bool
			}{labels: body.Fields.Labels}
			j.last = r.Body
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"id":"1","key":%q}`, key)
		case strings.HasSuffix(path, "/transitions") && r.Method == http.MethodGet:
			_, _ = io.WriteString(w, `{"transitions":[{"id":"31","name":"Done"},{"id":"41","name":"Reopen"}]}`)
		case strings.HasSuffix(path, "/transitions"):
			j.issues[strings.TrimPrefix(strings.TrimSuffix(path, "/transitions"), "issue/")].done = body.Transition.ID == "31"
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet && j.issues[strings.TrimPrefix(path, "issue/")] != nil:
			_, _ = io.WriteString(w, view(strings.TrimPrefix(path, "issue/")))
		case r.Method == http.MethodPut && j.issues[strings.TrimPrefix(path, "issue/")] != nil:
			j.last = r.Body
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"errorMessages":["Issue Does Not Exist"],"errors":{}}`)
		}
	})
	return j
}

func (j *fakeJira) calls() string {
	var out []string
	for _, r := range j.Requests() {
		out = append(out, r.Method+" "+strings.TrimPrefix(r.Path, "/rest/api/2/"))
	}
	return strings.Join(out, ", ")
}

func newNotifier(t *testing.T, j *fakeJira, extra string) *Notifier {
	t.Helper()
	n, _ := nt.Build(t, "", fmt.Sprintf(`    jira_configs:
      - api_url: %s/rest/api/2/
        project: OPS
        issue_type: Bug
        labels: ['{{ .CommonLabels.severity }}']
        resolve_transition: Done
        summary: {template: '{{ template "jira.default.summary" . }}', enable_update: false}
        fields:
          customfield_10001: {value: '{{ .CommonLabels.instance }}'}%s`, j.URL, extra),
		func(r *config.Receiver) *config.JiraConfig { return r.JiraConfigs[0] }, New)
	return n
}

// The first notification creates the issue (its key kept), the next one
// updates that issue without searching (summary left out: enable_update
// false), the resolution transitions it to Done. A replica without the
// key finds the issue by its label.
func TestIssueLifecycle(t *testing.T) {
	j := newFakeJira(t)
	n := newNotifier(t, j, "")
	ctx := t.Context()

	note := nt.Notification(nt.Alert("web-1", false))
	sent, _, err := n.NotifyMessage(ctx, note)
	if err != nil || sent == nil || sent.ID != "OPS-1" {
		t.Fatalf("create: %v %v", sent, err)
	}
	nt.Golden(t, "create.json", j.last)

	note.Message = sent
	if _, _, err := n.NotifyMessage(ctx, note); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(j.last), `"summary"`) {
		t.Errorf("update sets the summary: %s", j.last)
	}

	resolved := nt.Notification(nt.Alert("web-1", true)) // another replica: no key kept
	if sent, _, err = n.NotifyMessage(ctx, resolved); err != nil || sent == nil || sent.ID != "OPS-1" {
		t.Fatalf("resolve: %v %v", sent, err)
	}
	if !j.issues["OPS-1"].done {
		t.Error("issue not transitioned to Done")
	}
	want := "POST search, POST issue, GET issue/OPS-1, PUT issue/OPS-1, POST search, PUT issue/OPS-1, GET issue/OPS-1/transitions, POST issue/OPS-1/transitions"
	if got := j.calls(); got != want {
		t.Errorf("calls\n%s\nwant\n%s", got, want)
	}

	// Firing again after Done without a reopen transition: a new issue.
	sent, _, err = n.NotifyMessage(ctx, nt.Notification(nt.Alert("web-1", false)))
	if err != nil || sent.ID != "OPS-2" {
		t.Fatalf("refire: %v %v", sent, err)
	}
}

// A resolved group without an issue creates none; Jira's refusal is final
// with its error messages.
func TestResolvedWithoutIssueAndRefusal(t *testing.T) {
	j := newFakeJira(t)
	n := newNotifier(t, j, "")
	if sent, _, err := n.NotifyMessage(t.Context(), nt.Notification(nt.Alert("web-1", true))); err != nil || sent != nil {
		t.Fatalf("%v %v", sent, err)
	}
	srv := nt.NewServer(t, nt.Status(http.StatusBadRequest, `{"errorMessages":[],"errors":{"issuetype":"valid issue type is required"}}`))
	j.Server = srv
	n = newNotifier(t, j, "")
	retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
	if retryable || err == nil || !strings.Contains(err.Error(), "issuetype: valid issue type is required") {
		t.Fatalf("retryable %v, err %v", retryable, err)
	}
}
