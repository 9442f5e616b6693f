package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/services/notifier/jira/jiratest"
	"github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// vendorReceivers are the vendor integrations, each as the receiver lines
// of a Klaxon configuration posting to a test server at %[1]s, and the
// success answer of that vendor; notifies is the path suffix of the
// requests that are notifications, for a vendor that is also asked other
// things (WeChat's gettoken), "" when every request is one.
var vendorReceivers = map[string]struct {
	receiver string
	status   int
	answer   string
	notifies string
}{
	"pagerduty":  {"pagerduty_configs: [{url: '%[1]s/v2/enqueue', routing_key: 0123456789abcdef0123456789abcdef}]", 202, `{"status":"success"}`, ""},
	"opsgenie":   {"opsgenie_configs: [{api_url: '%[1]s/', api_key: k3y}]", 202, `{"result":"Request will be processed"}`, ""},
	"discord":    {"discord_configs: [{webhook_url: '%[1]s/api/webhooks/1/t'}]", 204, "", ""},
	"msteams":    {"msteams_configs: [{webhook_url: '%[1]s/webhookb2/x'}]", 200, "1", ""},
	"msteamsv2":  {"msteamsv2_configs: [{webhook_url: '%[1]s/workflows/x'}]", 202, "", ""},
	"telegram":   {"telegram_configs: [{api_url: '%[1]s', bot_token: '1:t', chat_id: 42}]", 200, `{"ok":true,"result":{}}`, ""},
	"webex":      {"webex_configs: [{api_url: '%[1]s/v1/messages', room_id: room, http_config: {authorization: {credentials: w}}}]", 200, `{"id":"m"}`, ""},
	"pushover":   {"pushover_configs: [{api_url: '%[1]s/1/messages.json', token: t0k3n, user_key: us3r}]", 200, `{"status":1,"request":"r"}`, ""},
	"victorops":  {"victorops_configs: [{api_url: '%[1]s/alert/', api_key: k3y, routing_key: ops}]", 200, `{"result":"success"}`, ""},
	"rocketchat": {"rocketchat_configs: [{api_url: '%[1]s/', token: t, token_id: i, channel: '#ops', send_resolved: true}]", 200, `{"success":true}`, ""},
	"incidentio": {"incidentio_configs: [{url: '%[1]s/v2/alert_events/http/x', alert_source_token: t}]", 202, `{"status":"success"}`, ""},
	"mattermost": {"mattermost_configs: [{webhook_url: '%[1]s/hooks/x'}]", 200, "ok", ""},
	"sns":        {"sns_configs: [{api_url: '%[1]s/', topic_arn: 'arn:aws:sns:eu-west-1:1:alerts', sigv4: {region: eu-west-1, access_key: AKID, secret_key: s}}]", 200, `<PublishResponse><PublishResult><MessageId>m</MessageId></PublishResult></PublishResponse>`, ""},
	"wechat":     {"wechat_configs: [{api_url: '%[1]s/cgi-bin/', api_secret: s, corp_id: c, to_user: '@all', send_resolved: true}]", 200, `{"errcode":0,"errmsg":"ok","access_token":"t","expires_in":7200}`, "/message/send"},
}

// TestVendorIntegrations: through the whole pipeline (HTTP ingest, dedup,
// router, grouper, notifier in one Klaxon process), an alert routed to each
// vendor's receiver reaches that vendor after group_wait; once the alert is
// resolved, every vendor is told once more (send_resolved defaults to true
// for all of them): PagerDuty with a resolve event, Opsgenie by closing the
// alert.
func TestVendorIntegrations(t *testing.T) {
	servers := map[string]*notifytest.Server{}
	cfg := "route:\n  receiver: pagerduty\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n  routes:\n"
	receivers := "receivers:\n"
	for vendor, v := range vendorReceivers {
		servers[vendor] = notifytest.NewServer(t, notifytest.Status(v.status, v.answer))
		cfg += fmt.Sprintf("    - {matchers: ['vendor=%q'], receiver: %s}\n", vendor, vendor)
		receivers += fmt.Sprintf("  - name: %s\n    %s\n", vendor, fmt.Sprintf(v.receiver, servers[vendor].URL))
	}
	path := filepath.Join(t.TempDir(), "klaxon.yml")
	if err := os.WriteFile(path, []byte(cfg+receivers), 0o644); err != nil {
		t.Fatal(err)
	}
	_, web, _ := klaxonOne(t, path, t.TempDir())

	var alerts []postable
	for vendor := range vendorReceivers {
		alerts = append(alerts, firingAlert("alertname", "VendorTest", "vendor", vendor))
	}
	if code := postAlerts(t, web, alerts); code != http.StatusOK {
		t.Fatalf("post alerts: %d", code)
	}
	for vendor, srv := range servers {
		t.Run(vendor, func(t *testing.T) {
			eventually(t, 20*time.Second, vendor+" notified", func() bool { return len(notifications(vendor, srv)) >= 1 })
			req := notifications(vendor, srv)[0]
			if req.Method != http.MethodPost || !strings.Contains(string(req.Body), "VendorTest") {
				t.Errorf("%s %s: %s", req.Method, req.Path, req.Body)
			}
		})
	}

	for i := range alerts {
		alerts[i].EndsAt = time.Now().Add(-time.Second)
	}
	if code := postAlerts(t, web, alerts); code != http.StatusOK {
		t.Fatalf("post resolved alerts: %d", code)
	}
	for vendor, srv := range servers {
		eventually(t, 20*time.Second, vendor+" told of the resolution", func() bool { return len(notifications(vendor, srv)) >= 2 })
	}
	if action := servers["pagerduty"].Requests()[1].JSON(t)["event_action"]; action != "resolve" {
		t.Errorf("pagerduty's second event is %v, want resolve", action)
	}
	if path := servers["opsgenie"].Requests()[1].Path; !strings.HasSuffix(path, "/close") {
		t.Errorf("opsgenie's second request is %s, want the close", path)
	}
	for vendor, srv := range servers {
		if n := len(notifications(vendor, srv)); n != 2 {
			t.Errorf("%s: %d notifications, want the firing and the resolved one", vendor, n)
		}
	}
}

// notifications are the requests of srv that notified vendor.
func notifications(vendor string, srv *notifytest.Server) []notifytest.Request {
	var out []notifytest.Request
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, vendorReceivers[vendor].notifies) {
			out = append(out, r)
		}
	}
	return out
}

// TestVendorIntegrationsJira: Jira through the whole pipeline, against the
// stateful fake Jira of jiratest. A firing alert opens one issue (labelled
// with the group's hash, priority from its severity); while it fires the
// issue is updated, not duplicated; once it resolves the issue is moved to
// Done; firing again within reopen_duration reopens the same issue.
func TestVendorIntegrationsJira(t *testing.T) {
	jira := jiratest.NewServer(t)
	cfg := fmt.Sprintf(`route:
  receiver: jira
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: jira
    jira_configs:
      - api_url: '%s/rest/api/2/'
        project: OPS
        issue_type: Bug
        resolve_transition: Done
        reopen_transition: Reopen
        reopen_duration: 1h
`, jira.URL)
	path := filepath.Join(t.TempDir(), "klaxon.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	_, web, _ := klaxonOne(t, path, t.TempDir())
	issue := func() *jiratest.Issue {
		if keys := jira.Issues(); len(keys) > 0 {
			return jira.Issue(keys[0])
		}
		return nil
	}

	alert := firingAlert("alertname", "JiraTest", "severity", "critical", "instance", "a")
	if code := postAlerts(t, web, []postable{alert}); code != http.StatusOK {
		t.Fatalf("post alerts: %d", code)
	}
	eventually(t, 20*time.Second, "jira issue created", func() bool { return issue() != nil })
	i := issue()
	if !strings.HasPrefix(i.Labels[0], "ALERT{") || !strings.Contains(string(i.Fields["summary"]), "JiraTest") || string(i.Fields["priority"]) != `{"name":"High"}` {
		t.Errorf("issue %s: labels %v, summary %s, priority %s", i.Key, i.Labels, i.Fields["summary"], i.Fields["priority"])
	}

	// A second alert joins the group: the same issue is updated.
	second := firingAlert("alertname", "JiraTest", "severity", "critical", "instance", "b")
	if code := postAlerts(t, web, []postable{alert, second}); code != http.StatusOK {
		t.Fatalf("post alerts: %d", code)
	}
	eventually(t, 20*time.Second, "jira issue updated", func() bool { return issue().Updates >= 1 })

	alert.EndsAt, second.EndsAt = time.Now(), time.Now() // not before second.StartsAt
	if code := postAlerts(t, web, []postable{alert, second}); code != http.StatusOK {
		t.Fatalf("post resolved alerts: %d", code)
	}
	eventually(t, 20*time.Second, "jira issue resolved", func() bool { return issue().Done })
	if i := issue(); i.Resolution != "Done" {
		t.Errorf("resolution %q, want Done", i.Resolution)
	}

	again := firingAlert("alertname", "JiraTest", "severity", "critical", "instance", "a")
	if code := postAlerts(t, web, []postable{again}); code != http.StatusOK {
		t.Fatalf("post alerts: %d", code)
	}
	eventually(t, 20*time.Second, "jira issue reopened", func() bool { return !issue().Done })
	if keys := jira.Issues(); len(keys) != 1 {
		t.Errorf("issues %v: want the one issue reopened", keys)
	}
}
