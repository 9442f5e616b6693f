package template

import (
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
)

// TestIntegrationDefaults: the eight integrations' default templates exist
// under Alertmanager's names; titles and summaries are the subject, links
// are Klaxon's alert page, message bodies list the firing and the resolved
// alerts.
func TestIntegrationDefaults(t *testing.T) {
	tmpl := mustNew(t)
	firing := mkAlert(map[string]string{"alertname": "HighLatency", "job": "api", "instance": "a", "severity": "warning"}, map[string]string{"summary": "p99 above 1s on a"}, time.Time{})
	resolved := mkAlert(map[string]string{"alertname": "HighLatency", "job": "api", "instance": "b", "severity": "critical"}, map[string]string{"summary": "p99 above 1s on b"}, at.Add(-time.Minute))
	d := data(map[string]string{"alertname": "HighLatency"}, firing, resolved)
	const subject = "[FIRING:1] HighLatency (api)"
	const link = "http://klaxon.example/#/alerts?receiver=team-x"

	for name, want := range map[string]string{
		"pagerduty.default.description": subject, "pagerduty.default.client": "Klaxon", "pagerduty.default.clientURL": link,
		"opsgenie.default.message": subject, "opsgenie.default.source": link,
		"msteams.default.title": subject, "msteams.default.summary": subject, "msteamsv2.default.title": subject,
		"discord.default.title": subject, "discord.default.content": "",
		"mattermost.default.title": subject, "mattermost.default.titlelink": link, "mattermost.default.username": "Klaxon",
		"mattermost.default.fallback": subject + " | " + link, "mattermost.default.color": "danger",
		"pushover.default.title": subject, "pushover.default.url": link,
		"victorops.default.entity_display_name": subject, "victorops.default.monitoring_tool": "Klaxon",
		"rocketchat.default.title": subject, "rocketchat.default.titlelink": link, "rocketchat.default.alias": "Klaxon", "rocketchat.default.text": "",
		"sns.default.subject": subject, "jira.default.summary": subject, "jira.default.priority": "Medium", // the firing alert's warning, not the resolved one's critical
		"wechat.default.to_user": "", "wechat.default.agent_id": "",
	} {
		if got := text(t, tmpl, `{{ template "`+name+`" . }}`, d); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{
		"opsgenie.default.description", "msteams.default.text", "msteamsv2.default.text", "discord.default.message",
		"telegram.default.message", "webex.default.message", "mattermost.default.text", "pushover.default.message", "victorops.default.state_message",
	} {
		got := text(t, tmpl, `{{ template "`+name+`" . }}`, d)
		firingAt, resolvedAt := strings.Index(got, "p99 above 1s on a"), strings.Index(got, "p99 above 1s on b")
		if firingAt < 0 || resolvedAt < firingAt || !strings.Contains(got, "Firing") || !strings.Contains(got, "Resolved") {
			t.Errorf("%s lists neither the firing then the resolved alerts:\n%s", name, got)
		}
	}
	// jira.default.priority: the most severe firing alert; with none firing
	// the most severe resolved one; no severity label, no priority.
	for _, c := range []struct {
		severities []string
		resolved   bool
		want       string
	}{
		{[]string{"info", "critical", "warning"}, false, "High"},
		{[]string{"info", "warning"}, false, "Medium"},
		{[]string{"info"}, false, "Low"},
		{[]string{"critical", "info"}, true, "High"},
		{[]string{"page"}, false, ""},
		{nil, false, ""},
	} {
		var alerts []alert.Alert
		for i, s := range c.severities {
			ends := time.Time{}
			if c.resolved {
				ends = at.Add(-time.Minute)
			}
			alerts = append(alerts, mkAlert(map[string]string{"alertname": "A", "instance": string(rune('a' + i)), "severity": s}, nil, ends))
		}
		if len(alerts) == 0 {
			alerts = append(alerts, mkAlert(map[string]string{"alertname": "A"}, nil, time.Time{}))
		}
		if got := text(t, tmpl, `{{ template "jira.default.priority" . }}`, data(nil, alerts...)); got != c.want {
			t.Errorf("jira.default.priority of %v (resolved %v) = %q, want %q", c.severities, c.resolved, got, c.want)
		}
	}
	if got := text(t, tmpl, `{{ template "pagerduty.default.instances" .Alerts }}`, d); !strings.Contains(got, "instance = a") || !strings.Contains(got, "instance = b") {
		t.Errorf("pagerduty.default.instances:\n%s", got)
	}
}

// TestIntegrationExamples: every integration's example in configs/examples
// loads and passes Check.
func TestIntegrationExamples(t *testing.T) {
	for _, name := range []string{"pagerduty.yml", "opsgenie.yml", "discord.yml", "msteams.yml", "telegram.yml", "webex.yml", "mattermost.yml", "pushover.yml", "victorops.yml", "rocketchat.yml", "incidentio.yml", "wechat.yml", "sns.yml", "jira.yml"} {
		t.Run(name, func(t *testing.T) { loadExample(t, name) })
	}
}

// TestIntegrationFields: the templated fields of the integrations are
// listed (and so checked at load), nested ones included.
func TestIntegrationFields(t *testing.T) {
	cfg := writeConfig(t, `
route: {receiver: r}
receivers:
  - name: r
    pagerduty_configs: [{routing_key: k, details: {team: web, nested: {list: [a, '{{ .Status }}']}}, links: [{href: h, text: x}], images: [{src: s}]}]
    opsgenie_configs: [{api_key: k, details: {a: b}, responders: [{name: n, type: team}]}]
    discord_configs: [{webhook_url: "https://discord.example/x"}]
    msteams_configs: [{webhook_url: "https://teams.example/x"}]
    msteamsv2_configs: [{webhook_url: "https://teams.example/x"}]
    telegram_configs: [{bot_token: t, chat_id: 1}]
    webex_configs: [{room_id: r, http_config: {authorization: {credentials: c}}}]
    mattermost_configs: [{webhook_url: "https://mm.example/x", attachments: [{title: t, fields: [{title: f, value: v}]}]}]
`, nil)
	got := map[string]bool{}
	for _, f := range Fields(cfg) {
		got[f.Path] = f.HTML
	}
	p := "receivers[0]."
	for _, want := range []string{
		"pagerduty_configs[0].description", "pagerduty_configs[0].details.team", "pagerduty_configs[0].details.num_firing", "pagerduty_configs[0].details.nested.list[1]",
		"pagerduty_configs[0].links[0].href", "pagerduty_configs[0].images[0].src",
		"opsgenie_configs[0].message", "opsgenie_configs[0].details.a", "opsgenie_configs[0].responders[0].name",
		"discord_configs[0].title", "msteams_configs[0].summary", "msteamsv2_configs[0].text",
		"telegram_configs[0].message", "webex_configs[0].room_id",
		"mattermost_configs[0].text", "mattermost_configs[0].attachments[0].fields[0].value",
	} {
		if _, ok := got[p+want]; !ok {
			t.Errorf("field %s not listed", want)
		}
	}
	if !got[p+"telegram_configs[0].message"] {
		t.Error("a Telegram message in HTML mode is not an HTML field")
	}
}
