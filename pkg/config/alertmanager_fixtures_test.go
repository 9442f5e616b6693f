package config_test

import (
	"cmp"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

// amFixtures are Alertmanager's configuration fixtures for the
// integrations (its config/testdata, rewritten) and more cases of its
// validation rules, under testdata/alertmanager/. Each loads, or fails with
// Alertmanager's error text (err). amtool is false for a fixture naming an
// integration that the amtool of the test machine (0.25) predates; the
// expectation then is Alertmanager 0.34's, from its source.
var amFixtures = []struct {
	file   string
	err    string // "" when the file is valid
	amtool bool
	// amtoolErr is amtool 0.25's text where it differs from 0.34's err.
	amtoolErr string
}{
	{"pagerduty-valid.yml", "", true, ""},
	{"pagerduty-structured-details-and-timeout.yml", "", false, ""},
	{"pagerduty-no-key.yml", "missing service or routing key in PagerDuty config", true, ""},
	{"pagerduty-service-key-and-file.yml", "at most one of service_key & service_key_file must be configured", true, ""},
	{"opsgenie-global-api-key.yml", "", true, ""},
	{"opsgenie-global-api-key-file.yml", "", true, ""},
	{"opsgenie-global-api-key-and-file.yml", "at most one of opsgenie_api_key & opsgenie_api_key_file must be configured", true, ""},
	{"opsgenie-no-api-key.yml", "no global OpsGenie API Key set either inline or in a file", true, ""},
	{"opsgenie-old-teams-field.yml", `unknown field "teams"`, true, ""},
	{"opsgenie-responder-without-name.yml", "opsGenieConfig responder {   team} has to have at least one of id, username or name specified", true, ""},
	{"opsgenie-responder-bad-type.yml", "opsGenieConfig responder { db  group} type does not match valid options ^(team|teams|user|escalation|schedule)$", true, ""},
	{"opsgenie-responder-templated-type.yml", "", true, ""},
	{"discord-valid.yml", "", true, ""},
	{"discord-no-webhook-url.yml", "one of webhook_url or webhook_url_file must be configured", true, "no discord webhook URL provided"},
	{"discord-webhook-url-and-file.yml", "at most one of webhook_url & webhook_url_file must be configured", false, ""},
	{"telegram-global-bot-token.yml", "", false, ""},
	{"telegram-global-bot-token-file.yml", "", false, ""},
	{"telegram-global-bot-token-and-file.yml", "at most one of telegram_bot_token & telegram_bot_token_file must be configured", false, ""},
	{"telegram-global-both-receiver-own-file.yml", "at most one of telegram_bot_token & telegram_bot_token_file must be configured", false, ""},
	{"telegram-no-bot-token.yml", "missing bot_token or bot_token_file on telegram_config", true, "missing bot_token on telegram_config"},
	{"telegram-no-chat-id.yml", "missing chat_id or chat_id_file on telegram_config", true, "missing chat_id on telegram_config"},
	{"telegram-bad-parse-mode.yml", "unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string", true, ""},
	{"telegram-chat-id-file.yml", "", false, ""},
	{"webex-valid.yml", "", true, ""},
	{"webex-no-room-id.yml", "missing room_id on webex_config", true, ""},
	{"webex-global-authorization-only.yml", "missing webex_configs.http_config.authorization", true, ""},
	{"mattermost-global-webhook-url.yml", "", false, ""},
	{"mattermost-global-webhook-url-file.yml", "", false, ""},
	{"mattermost-global-webhook-url-and-file.yml", "at most one of mattermost_webhook_url & mattermost_webhook_url_file must be configured", false, ""},
	{"mattermost-global-both-receiver-own-url.yml", "at most one of mattermost_webhook_url & mattermost_webhook_url_file must be configured", false, ""},
	{"mattermost-no-webhook-url.yml", "missing webhook_url or webhook_url_file on mattermost_config", false, ""},
	{"mattermost-field-without-value.yml", "missing value in Mattermost field configuration", false, ""},
	{"msteams-valid.yml", "", false, ""},
	{"msteams-no-webhook-url.yml", "one of webhook_url or webhook_url_file must be configured", false, ""},
	{"msteamsv2-valid.yml", "", false, ""},
	{"msteamsv2-webhook-url-and-file.yml", "at most one of webhook_url & webhook_url_file must be configured", false, ""},
	{"pushover-valid.yml", "", true, ""},
	{"pushover-ttl-and-files.yml", "", false, ""},
	{"pushover-no-user-key.yml", "one of user_key or user_key_file must be configured", true, "missing user key in Pushover config"},
	{"pushover-no-token.yml", "one of token or token_file must be configured", true, "missing token in Pushover config"},
	{"pushover-user-key-and-file.yml", "at most one of user_key & user_key_file must be configured", false, ""},
	{"pushover-html-and-monospace.yml", "at most one of monospace & html must be configured", false, ""},
	{"victorops-global-api-key.yml", "", true, ""},
	{"victorops-global-api-key-file.yml", "", true, ""},
	{"victorops-global-api-key-and-file.yml", "at most one of victorops_api_key & victorops_api_key_file must be configured", true, ""},
	{"victorops-no-api-key.yml", "no global VictorOps API Key set", true, ""},
	{"victorops-no-routing-key.yml", "missing Routing key in VictorOps config", true, ""},
	{"victorops-reserved-custom-field.yml", "victorOps config contains custom field entity_state which cannot be used as it conflicts with the fixed/static fields", true, ""},
	{"rocketchat-global-token.yml", "", false, ""},
	{"rocketchat-global-token-file.yml", "", false, ""},
	{"rocketchat-global-token-and-file.yml", "at most one of rocketchat_token & rocketchat_token_file must be configured", false, ""},
	{"rocketchat-no-token.yml", "no global Rocketchat Token set either inline or in a file", false, ""},
	{"rocketchat-no-token-id.yml", "no global Rocketchat TokenID set either inline or in a file", false, ""},
	{"rocketchat-token-id-and-file.yml", "at most one of token_id & token_id_file must be configured", false, ""},
	{"incidentio-valid.yml", "", false, ""},
	{"incidentio-authorization.yml", "", false, ""},
	{"incidentio-no-url.yml", "one of url or url_file must be configured", false, ""},
	{"incidentio-url-and-file.yml", "at most one of url & url_file must be configured", false, ""},
	{"incidentio-token-and-authorization.yml", "cannot specify alert_source_token or alert_source_token_file when using http_config.authorization", false, ""},
	{"incidentio-http-config-without-token.yml", "at least one of alert_source_token, alert_source_token_file or http_config.authorization must be configured", false, ""},
	{"wechat-global-api-secret-file.yml", "", false, ""},
	{"wechat-global-api-secret-and-file.yml", "at most one of wechat_api_secret & wechat_api_secret_file must be configured", false, ""},
	{"wechat-api-secret-and-file.yml", "at most one of api_secret & api_secret_file must be configured", false, ""},
	{"wechat-no-api-secret.yml", "no global Wechat Api Secret set either inline or in a file", true, "no global Wechat ApiSecret set"},
	{"wechat-no-corp-id.yml", "no global Wechat CorpID set", true, ""},
	{"wechat-bad-message-type.yml", `weChat message type "html" does not match valid options ^(text|markdown)$`, true, ""},
	{"sns-topic-arn.yml", "", true, ""},
	{"sns-no-target.yml", "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config", true, ""},
	{"sns-topic-and-phone.yml", "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config", true, ""},
	{"sns-access-key-without-secret.yml", "must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config", true, ""},
	{"jira-valid.yml", "", false, ""},
	{"jira-global-api-url.yml", "", false, ""},
	{"jira-api-v3-description.yml", "", false, ""},
	{"jira-no-api-url.yml", "no global Jira Cloud URL set", false, ""},
	{"jira-no-project.yml", "missing project in jira_config", false, ""},
	{"jira-no-issue-type.yml", "missing issue_type in jira_config", false, ""},
	{"jira-bad-api-type.yml", "unknown api_type on jira_config, must be auto, cloud or datacenter", false, ""},
	// custom_fields is the JSON name of fields, not a YAML key.
	{"jira-unknown-field.yml", `unknown field "custom_fields"`, false, ""},
	// Klaxon cannot assume a role yet and refuses the file, which amtool
	// accepts: a deliberate difference, not checked against amtool.
	{"sns-role-arn.yml", "assuming a role is not supported by Klaxon yet", false, ""},
}

// TestAlertmanagerFixtures loads every fixture and wants Alertmanager's
// verdict and error text.
func TestAlertmanagerFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "alertmanager", "*.yml"))
	if len(files) != len(amFixtures) {
		t.Errorf("%d files under testdata/alertmanager, %d in amFixtures: list each once", len(files), len(amFixtures))
	}
	for _, f := range amFixtures {
		t.Run(f.file, func(t *testing.T) {
			_, err := config.Load(filepath.Join("testdata", "alertmanager", f.file))
			switch {
			case f.err == "" && err != nil:
				t.Errorf("want a valid file, got %v", err)
			case f.err != "" && err == nil:
				t.Errorf("loaded; want %q", f.err)
			case f.err != "" && !strings.Contains(err.Error(), f.err):
				t.Errorf("error %q\nwant %q", err, f.err)
			}
		})
	}
}

// TestAlertmanagerFixturesAgreeWithAmtool runs amtool check-config on the
// fixtures it knows and wants the verdict (and, for an invalid file other
// than an unknown field, the error text) of amFixtures. Skipped without
// amtool unless KLAXON_E2E=1.
func TestAlertmanagerFixturesAgreeWithAmtool(t *testing.T) {
	amtool := harness.RequireE2E(t, "amtool")
	for _, f := range amFixtures {
		if !f.amtool {
			continue
		}
		t.Run(f.file, func(t *testing.T) {
			out, err := exec.CommandContext(t.Context(), amtool, "check-config", filepath.Join("testdata", "alertmanager", f.file)).CombinedOutput()
			switch {
			case f.err == "" && err != nil:
				t.Errorf("amtool refuses a file Klaxon loads:\n%s", out)
			case f.err != "" && err == nil:
				t.Errorf("amtool accepts a file Klaxon refuses:\n%s", out)
			case f.err != "" && !strings.Contains(f.err, "unknown field") && !strings.Contains(string(out), cmp.Or(f.amtoolErr, f.err)):
				t.Errorf("amtool's error differs from %q:\n%s", cmp.Or(f.amtoolErr, f.err), out)
			}
		})
	}
}
