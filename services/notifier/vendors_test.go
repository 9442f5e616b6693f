package notifier

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/services/notifier/jira/jiratest"
	"github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// TestVendorIntegrationsThroughStage: one receiver with each vendor
// integration, each vendor an httptest server. A flush of a firing group
// reaches every vendor once through the stage (Jira: a search, then the
// new issue) (JetStream, notification
// log, builders); the group's resolution reaches PagerDuty as a resolve
// event under the same dedup key. A vendor refusing (Opsgenie: 422) is
// final: dead-lettered at once with its error text and without its key.
func TestVendorIntegrationsThroughStage(t *testing.T) {
	const opsgenieKey = "st4ge-0psg3n13-k3y"
	ok := func(body string) notifytest.Answer { return notifytest.Status(http.StatusOK, body) }
	jira := jiratest.NewServer(t)
	vendors := map[string]*notifytest.Server{
		"pagerduty":  notifytest.NewServer(t, notifytest.Status(http.StatusAccepted, `{"status":"success"}`)),
		"opsgenie":   notifytest.NewServer(t, notifytest.Status(http.StatusUnprocessableEntity, `{"message":"Request body is not processable.","errors":{"responders":"Invalid responder"}}`)),
		"discord":    notifytest.NewServer(t, notifytest.Status(http.StatusNoContent, "")),
		"msteams":    notifytest.NewServer(t, ok("1")),
		"msteamsv2":  notifytest.NewServer(t, notifytest.Status(http.StatusAccepted, "")),
		"telegram":   notifytest.NewServer(t, ok(`{"ok":true,"result":{}}`)),
		"webex":      notifytest.NewServer(t, ok(`{"id":"x"}`)),
		"mattermost": notifytest.NewServer(t, ok("ok")),
		"pushover":   notifytest.NewServer(t, ok(`{"status":1}`)),
		"victorops":  notifytest.NewServer(t, ok(`{"result":"success"}`)),
		"rocketchat": notifytest.NewServer(t, ok(`{"success":true}`)),
		"incidentio": notifytest.NewServer(t, notifytest.Status(http.StatusAccepted, `{"status":"success"}`)),
		"sns":        notifytest.NewServer(t, ok(`<PublishResponse/>`)),
		"wechat":     notifytest.NewServer(t, ok(`{"errcode":0,"errmsg":"ok","access_token":"t","expires_in":7200}`)),
		"jira":       jira.Server,
	}
	s := startStageConfig(t, fmt.Sprintf(`
route: {receiver: team}
receivers:
  - name: team
    pagerduty_configs: [{url: %q, routing_key: r0ut1ng}]
    opsgenie_configs: [{api_url: %q, api_key: %s}]
    discord_configs: [{webhook_url: %q}]
    msteams_configs: [{webhook_url: %q}]
    msteamsv2_configs: [{webhook_url: %q}]
    telegram_configs: [{api_url: %q, bot_token: "1:t", chat_id: 5}]
    webex_configs: [{api_url: %q, room_id: room, http_config: {authorization: {credentials: w}}}]
    mattermost_configs: [{webhook_url: %q}]
    pushover_configs: [{api_url: %q, token: t, user_key: u}]
    victorops_configs: [{api_url: %q, api_key: k, routing_key: r}]
    rocketchat_configs: [{api_url: %q, token: t, token_id: i}]
    incidentio_configs: [{url: %q, alert_source_token: t}]
    wechat_configs: [{api_url: %q, api_secret: s, corp_id: c, to_user: '@all'}]
    sns_configs: [{api_url: %q, topic_arn: 'arn:aws:sns:eu-west-1:1:t', sigv4: {region: eu-west-1, access_key: a, secret_key: s}}]
    jira_configs: [{api_url: '%s/rest/api/2/', project: OPS, issue_type: Bug}]
`, vendors["pagerduty"].URL, vendors["opsgenie"].URL, opsgenieKey, vendors["discord"].URL, vendors["msteams"].URL,
		vendors["msteamsv2"].URL, vendors["telegram"].URL, vendors["webex"].URL, vendors["mattermost"].URL,
		vendors["pushover"].URL, vendors["victorops"].URL, vendors["rocketchat"].URL,
		vendors["incidentio"].URL, vendors["wechat"].URL, vendors["sns"].URL, jira.URL))

	for typ := range vendors {
		s.publishTo(t, contract.Integration{Receiver: "team", Type: typ}, 1, t0, firingAlert("a"))
	}
	for typ, srv := range vendors {
		waitFor(t, typ+" notified", func() bool { return len(srv.Requests()) >= 1 })
	}
	dl := s.waitDeadLetter(t, 1)
	if dl.Subject != contract.NotifySubject("opsgenie") || !strings.Contains(dl.Reason, "422") || !strings.Contains(dl.Reason, "responders: Invalid responder") {
		t.Errorf("dead letter %+v", dl)
	}
	if strings.Contains(dl.Reason, opsgenieKey) || strings.Contains(string(dl.Payload), opsgenieKey) || strings.Contains(s.logs.String(), opsgenieKey) {
		t.Error("the Opsgenie key leaks into the dead letter or the logs")
	}

	waitFor(t, "jira issue created", func() bool { return len(jira.Issues()) >= 1 })
	if issues := jira.Issues(); len(issues) != 1 || !strings.HasPrefix(jira.Issue(issues[0]).Labels[0], "ALERT{") {
		t.Errorf("jira issues %v: want one, labelled with the group's hash", issues)
	}

	s.publishTo(t, contract.Integration{Receiver: "team", Type: "pagerduty"}, 2, t0.Add(time.Minute), alertAt("a", t0.Add(30*time.Second)))
	pd := vendors["pagerduty"]
	waitFor(t, "pagerduty resolve", func() bool { return len(pd.Requests()) >= 2 })
	trigger, resolve := pd.Requests()[0].JSON(t), pd.Requests()[1].JSON(t)
	if trigger["event_action"] != "trigger" || resolve["event_action"] != "resolve" || trigger["dedup_key"] != resolve["dedup_key"] {
		t.Errorf("trigger %v / resolve %v: want one dedup key, trigger then resolve", trigger["event_action"], resolve["event_action"])
	}
	for typ, srv := range vendors {
		want := map[bool]int{true: 2, false: 1}[typ == "pagerduty"]
		switch typ {
		case "wechat":
			want = 2 // gettoken, then the message
		case "jira":
			want = 2 // the search for the group's issue, then its creation
		}
		if n := len(srv.Requests()); n != want {
			t.Errorf("%s: %d requests, want %d (a final failure is not retried)", typ, n, want)
		}
	}
}
