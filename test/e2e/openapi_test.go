package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// schema is the part of an OpenAPI (swagger 2.0) schema the test checks:
// the type, the required properties, the properties' and items' schemas,
// enums and the date-time format.
type schema struct {
	typ        string // object, array, string, boolean
	required   []string
	props      map[string]*schema
	items      *schema
	additional *schema // an object's other properties (labelSet)
	enum       []string
	dateTime   bool
}

// Alertmanager's API v2 definitions (api/v2/openapi.yaml), transcribed: the
// field set every answer must have.
var (
	strT      = &schema{typ: "string"}
	boolT     = &schema{typ: "boolean"}
	dateTimeT = &schema{typ: "string", dateTime: true}
	strList   = &schema{typ: "array", items: strT}
	labelSet  = &schema{typ: "object", additional: strT}
	receiver  = &schema{typ: "object", required: []string{"name"}, props: map[string]*schema{"name": strT}}

	alertStatus = &schema{typ: "object", required: []string{"state", "silencedBy", "inhibitedBy", "mutedBy"},
		props: map[string]*schema{
			"state":      {typ: "string", enum: []string{"unprocessed", "active", "suppressed"}},
			"silencedBy": strList, "inhibitedBy": strList, "mutedBy": strList,
		}}
	gettableAlert = &schema{typ: "object",
		required: []string{"labels", "receivers", "fingerprint", "startsAt", "updatedAt", "endsAt", "annotations", "status"},
		props: map[string]*schema{
			"labels": labelSet, "annotations": labelSet, "generatorURL": strT,
			"receivers": {typ: "array", items: receiver}, "fingerprint": strT,
			"startsAt": dateTimeT, "updatedAt": dateTimeT, "endsAt": dateTimeT, "status": alertStatus,
		}}
	alertGroup = &schema{typ: "object", required: []string{"labels", "receiver", "alerts"},
		props: map[string]*schema{"labels": labelSet, "receiver": receiver, "alerts": {typ: "array", items: gettableAlert}}}
	matcherT = &schema{typ: "object", required: []string{"name", "value", "isRegex"},
		props: map[string]*schema{"name": strT, "value": strT, "isRegex": boolT, "isEqual": boolT}}
	gettableSilence = &schema{typ: "object",
		required: []string{"id", "status", "updatedAt", "matchers", "startsAt", "endsAt", "createdBy", "comment"},
		props: map[string]*schema{
			"id": strT, "updatedAt": dateTimeT, "startsAt": dateTimeT, "endsAt": dateTimeT,
			"createdBy": strT, "comment": strT, "matchers": {typ: "array", items: matcherT},
			"status": {typ: "object", required: []string{"state"}, props: map[string]*schema{
				"state": {typ: "string", enum: []string{"expired", "active", "pending"}},
			}},
		}}
	alertmanagerStatus = &schema{typ: "object", required: []string{"cluster", "versionInfo", "config", "uptime"},
		props: map[string]*schema{
			"cluster": {typ: "object", required: []string{"status"}, props: map[string]*schema{
				"name":   strT,
				"status": {typ: "string", enum: []string{"ready", "settling", "disabled"}},
				"peers": {typ: "array", items: &schema{typ: "object", required: []string{"name", "address"},
					props: map[string]*schema{"name": strT, "address": strT}}},
			}},
			"versionInfo": {typ: "object", required: []string{"version", "revision", "branch", "buildUser", "buildDate", "goVersion"},
				props: map[string]*schema{"version": strT, "revision": strT, "branch": strT, "buildUser": strT, "buildDate": strT, "goVersion": strT}},
			"config": {typ: "object", required: []string{"original"}, props: map[string]*schema{"original": strT}},
			"uptime": dateTimeT,
		}}
	postSilencesOK = &schema{typ: "object", props: map[string]*schema{"silenceID": strT}}
)

// check validates v against s; it returns the violations, each with its path.
func (s *schema) check(path string, v any) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	switch s.typ {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			bad("want an object, got %T", v)
			return errs
		}
		for _, r := range s.required {
			if _, ok := m[r]; !ok {
				bad("required property %q missing", r)
			}
		}
		for k, pv := range m {
			sub := s.props[k]
			if sub == nil {
				sub = s.additional
			}
			if sub != nil {
				errs = append(errs, sub.check(path+"."+k, pv)...)
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			bad("want an array, got %T", v)
			return errs
		}
		for i, e := range a {
			errs = append(errs, s.items.check(fmt.Sprintf("%s[%d]", path, i), e)...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			bad("want a string, got %T", v)
			return errs
		}
		if s.enum != nil && !slices.Contains(s.enum, str) {
			bad("%q not one of %v", str, s.enum)
		}
		if s.dateTime {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				bad("not a date-time: %q", str)
			}
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("want a boolean, got %T", v)
		}
	}
	return errs
}

func (s *schema) arrayOf() *schema { return &schema{typ: "array", items: s} }

// The schema check itself can fail: a missing required field, a wrong type
// and a bad enum value are each caught.
func TestSchemaCheckCatchesViolations(t *testing.T) {
	for name, body := range map[string]string{
		"missing mutedBy":  `{"state":"active","silencedBy":[],"inhibitedBy":[]}`,
		"null list":        `{"state":"active","silencedBy":null,"inhibitedBy":[],"mutedBy":[]}`,
		"bad state":        `{"state":"muted","silencedBy":[],"inhibitedBy":[],"mutedBy":[]}`,
		"wrong entry type": `{"state":"active","silencedBy":[1],"inhibitedBy":[],"mutedBy":[]}`,
	} {
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		if errs := alertStatus.check("status", v); len(errs) == 0 {
			t.Errorf("%s: no violation found", name)
		}
	}
}

// Every answer of the API decodes with Alertmanager's OpenAPI field set: the
// spec's required fields present, the types right, enums and date-times
// valid, lists never null.
func TestAPIAnswersMatchOpenAPI(t *testing.T) {
	s := newSink(t)
	_, web, _ := klaxonOne(t, amtoolConfig(t, s.srv.URL), t.TempDir())
	base := "http://" + web + "/api/v2"

	warn := firingAlert("alertname", "Disk", "severity", "warning", "instance", "db1")
	warn.Annotations = nil // no annotations: the answer must still have {}
	crit := firingAlert("alertname", "NodeDown", "severity", "critical", "instance", "db1", "team", "db")
	if code := postAlerts(t, web, []postable{warn, crit}); code != http.StatusOK {
		t.Fatalf("POST alerts = %d", code)
	}
	silID := postSilence(t, web, "alertname", "NodeDown")
	eventually(t, 15*time.Second, "alerts listed and grouped", func() bool {
		var alerts, groups []any
		return tryGetJSON(base+"/alerts", &alerts) && len(alerts) == 2 &&
			tryGetJSON(base+"/alerts/groups", &groups) && len(groups) == 2
	})

	for _, tc := range []struct {
		method, path, body string
		code               int
		schema             *schema
	}{
		{"GET", "/alerts", "", 200, gettableAlert.arrayOf()},
		{"GET", "/alerts?active=false&silenced=true", "", 200, gettableAlert.arrayOf()},
		{"GET", "/alerts/groups", "", 200, alertGroup.arrayOf()},
		{"GET", "/silences", "", 200, gettableSilence.arrayOf()},
		{"GET", "/silence/" + silID, "", 200, gettableSilence},
		{"GET", "/status", "", 200, alertmanagerStatus},
		{"GET", "/receivers", "", 200, receiver.arrayOf()},
		{"POST", "/silences", fmt.Sprintf(`{"matchers":[{"name":"a","value":"b","isRegex":false}],"startsAt":%q,"endsAt":%q,"createdBy":"x","comment":"y"}`,
			time.Now().UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), 200, postSilencesOK},
		// Errors: the spec's BadRequest and NotFound answers.
		{"GET", "/alerts?filter=%7B%7B", "", 400, strT},
		{"POST", "/silences", `{"matchers":[{"name":"a","value":"b","isRegex":false}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2020-01-02T00:00:00Z","createdBy":"x","comment":"y"}`, 400, strT},
		{"POST", "/silences", `{"id":"4bd4bd2a-8c60-4d83-9d41-7d1f3f3c0b31","matchers":[{"name":"a","value":"b","isRegex":false}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2099-01-02T00:00:00Z","createdBy":"x","comment":"y"}`, 404, strT},
		{"GET", "/silence/4bd4bd2a-8c60-4d83-9d41-7d1f3f3c0b31", "", 404, nil},
		{"DELETE", "/silence/4bd4bd2a-8c60-4d83-9d41-7d1f3f3c0b31", "", 404, nil},
		{"DELETE", "/silence/" + silID, "", 200, nil},
	} {
		req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		what := tc.method + " " + tc.path
		if resp.StatusCode != tc.code {
			t.Errorf("%s = %d %s, want %d", what, resp.StatusCode, body, tc.code)
			continue
		}
		if tc.schema == nil {
			continue
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("%s: not JSON: %v: %s", what, err, body)
			continue
		}
		for _, e := range tc.schema.check("body", v) {
			t.Errorf("%s: %s", what, e)
		}
		if tc.path == "/alerts" && len(v.([]any)) != 2 {
			t.Errorf("%s lists %d alerts, want 2", what, len(v.([]any)))
		}
	}
}

func tryGetJSON(url string, v any) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(v) == nil
}
