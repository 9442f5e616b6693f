// Package jiratest is a small stateful Jira for tests: an httptest server
// (notifytest's, so every request is recorded) keeping issues in memory and
// answering the calls Klaxon's Jira integration makes, under /rest/api/2/
// or /rest/api/3/: search (search and search/jql, with the JQL clauses the
// integration writes interpreted), create, read, update and transitions.
// Its workflow has three transitions: Done (id 31, resolution Done), Won't
// Fix (id 51, resolution Won't Fix), both to the done status category, and
// Reopen (id 41) back to open.
package jiratest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// DateFormat is Jira's format of resolutiondate.
const DateFormat = "2006-01-02T15:04:05.000-0700"

// Issue is one issue as the server keeps it.
type Issue struct {
	Key        string
	Project    string
	Labels     []string
	Done       bool
	Resolution string    // "" while unresolved
	Resolved   time.Time // when Resolution was set
	Fields     map[string]json.RawMessage
	Updates    int // PUTs seen
}

// Server is the fake Jira.
type Server struct {
	*notifytest.Server
	// Now is the server's clock for resolution dates and the JQL's
	// relative dates (default time.Now); set it before the first request.
	Now    func() time.Time
	mu     sync.Mutex
	issues map[string]*Issue
	order  []string
}

var transitions = []struct{ ID, Name, Resolution string }{
	{"31", "Done", "Done"}, {"41", "Reopen", ""}, {"51", "Won't Fix", "Won't Fix"},
}

// NewServer starts a fake Jira, closed when the test ends.
func NewServer(t *testing.T) *Server {
	t.Helper()
	s := &Server{Now: time.Now, issues: map[string]*Issue{}}
	s.Server = notifytest.NewServer(t, s.answer)
	return s
}

// Issue returns a copy of the issue with key, or nil.
func (s *Server) Issue(key string) *Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.issues[key]; i != nil {
		c := *i
		return &c
	}
	return nil
}

// Issues returns the keys of the issues in creation order.
func (s *Server) Issues() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order)
}

// Resolve moves an issue to done with resolution, resolved at (as a user
// would in Jira's UI).
func (s *Server) Resolve(key, resolution string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.issues[key]
	i.Done, i.Resolution, i.Resolved = true, resolution, at
}

// Calls lists the requests as "METHOD path", the API prefix cut.
func (s *Server) Calls() []string {
	var out []string
	for _, r := range s.Requests() {
		out = append(out, r.Method+" "+apiPath(r.Path))
	}
	return out
}

var apiPrefix = regexp.MustCompile(`^.*/rest/api/[23]/`)

func apiPath(p string) string { return apiPrefix.ReplaceAllString(p, "") }

func (s *Server) answer(w http.ResponseWriter, r notifytest.Request, _ int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	path := apiPath(r.Path)
	parts := strings.Split(path, "/")
	var i *Issue
	if len(parts) >= 2 && parts[0] == "issue" {
		i = s.issues[parts[1]]
	}
	switch {
	case r.Method == http.MethodPost && (path == "search" || path == "search/jql"):
		s.search(w, r.Body)
	case r.Method == http.MethodPost && path == "issue":
		var body struct{ Fields map[string]json.RawMessage }
		var project struct{ Key string }
		var labels []string
		if json.Unmarshal(r.Body, &body) != nil || json.Unmarshal(body.Fields["project"], &project) != nil || project.Key == "" {
			fail(w, http.StatusBadRequest, `{"errorMessages":[],"errors":{"project":"project is required"}}`)
			return
		}
		_ = json.Unmarshal(body.Fields["labels"], &labels)
		key := fmt.Sprintf("%s-%d", project.Key, len(s.order)+1)
		s.issues[key] = &Issue{Key: key, Project: project.Key, Labels: labels, Fields: body.Fields}
		s.order = append(s.order, key)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"%d","key":%q}`, len(s.order), key)
	case i == nil:
		fail(w, http.StatusNotFound, `{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}`)
	case len(parts) == 2 && r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(view(i))
	case len(parts) == 2 && r.Method == http.MethodPut:
		var body struct{ Fields map[string]json.RawMessage }
		_ = json.Unmarshal(r.Body, &body)
		for k, v := range body.Fields {
			i.Fields[k] = v
		}
		i.Updates++
		w.WriteHeader(http.StatusNoContent)
	case len(parts) == 3 && parts[2] == "transitions" && r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(map[string]any{"transitions": transitions})
	case len(parts) == 3 && parts[2] == "transitions" && r.Method == http.MethodPost:
		var body struct{ Transition struct{ ID string } }
		_ = json.Unmarshal(r.Body, &body)
		at := slices.IndexFunc(transitions, func(t struct{ ID, Name, Resolution string }) bool { return t.ID == body.Transition.ID })
		if at < 0 {
			fail(w, http.StatusBadRequest, `{"errorMessages":["It seems that you have tried to perform a workflow operation that is not valid."],"errors":{}}`)
			return
		}
		t := transitions[at]
		i.Done, i.Resolution, i.Resolved = t.Resolution != "", t.Resolution, s.Now()
		w.WriteHeader(http.StatusNoContent)
	default:
		fail(w, http.StatusMethodNotAllowed, `{"errorMessages":["method not allowed"],"errors":{}}`)
	}
}

var (
	jqlProject = regexp.MustCompile(`project="([^"]*)"`)
	jqlLabel   = regexp.MustCompile(`labels="([^"]*)"`)
	jqlWontFix = regexp.MustCompile(`resolution != "([^"]*)"`)
	jqlWithin  = regexp.MustCompile(`resolutiondate >= -(\d+)m`)
)

// search interprets the clauses of the integration's JQL and answers the
// matching issues open first, then newest resolution first.
func (s *Server) search(w http.ResponseWriter, raw []byte) {
	var body struct {
		JQL        string `json:"jql"`
		MaxResults int    `json:"maxResults"`
	}
	_ = json.Unmarshal(raw, &body)
	project, label := jqlProject.FindStringSubmatch(body.JQL), jqlLabel.FindStringSubmatch(body.JQL)
	if project == nil || label == nil {
		fail(w, http.StatusBadRequest, `{"errorMessages":["Error in the JQL Query"],"errors":{}}`)
		return
	}
	var found []*Issue
	for _, key := range s.order {
		i := s.issues[key]
		switch {
		case i.Project != project[1] || !slices.Contains(i.Labels, label[1]):
		case strings.Contains(body.JQL, "statusCategory != Done") && i.Done:
		case jqlWontFix.MatchString(body.JQL) && i.Resolution == jqlWontFix.FindStringSubmatch(body.JQL)[1]:
		case jqlWithin.MatchString(body.JQL) && i.Resolution != "" && i.Resolved.Before(s.Now().Add(-minutes(jqlWithin.FindStringSubmatch(body.JQL)[1]))):
		default:
			found = append(found, i)
		}
	}
	slices.SortStableFunc(found, func(a, b *Issue) int {
		if a.Done != b.Done {
			return map[bool]int{true: 1, false: -1}[a.Done]
		}
		return b.Resolved.Compare(a.Resolved)
	})
	if body.MaxResults > 0 && len(found) > body.MaxResults {
		found = found[:body.MaxResults]
	}
	views := make([]map[string]any, 0, len(found))
	for _, i := range found {
		views = append(views, view(i))
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"issues": views})
}

func minutes(s string) time.Duration {
	m, _ := strconv.Atoi(s)
	return time.Duration(m) * time.Minute
}

// view is an issue as Jira answers it: status category, resolution and
// its date, labels.
func view(i *Issue) map[string]any {
	fields := map[string]any{
		"status":     map[string]any{"statusCategory": map[string]string{"key": map[bool]string{true: "done", false: "new"}[i.Done]}},
		"labels":     i.Labels,
		"resolution": nil,
	}
	if i.Resolution != "" {
		fields["resolution"] = map[string]string{"name": i.Resolution}
		fields["resolutiondate"] = i.Resolved.Format(DateFormat)
	}
	return map[string]any{"key": i.Key, "fields": fields}
}

func fail(w http.ResponseWriter, code int, body string) {
	w.WriteHeader(code)
	_, _ = fmt.Fprint(w, body)
}
