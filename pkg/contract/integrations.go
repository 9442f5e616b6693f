package contract

// Integration types: the names of the integrations a receiver can have, as
// Alertmanager names them (its notification log and metrics use the same
// names). A Notification's Integration.Type is one of these, and its subject
// is NotifySubject(type).
const (
	IntegrationWebhook    = "webhook"
	IntegrationSlack      = "slack"
	IntegrationEmail      = "email"
	IntegrationPagerDuty  = "pagerduty"
	IntegrationOpsGenie   = "opsgenie"
	IntegrationDiscord    = "discord"
	IntegrationMSTeams    = "msteams"
	IntegrationMSTeamsV2  = "msteamsv2"
	IntegrationTelegram   = "telegram"
	IntegrationWebex      = "webex"
	IntegrationMattermost = "mattermost"
	IntegrationPushover   = "pushover"
	IntegrationVictorOps  = "victorops"
	IntegrationRocketchat = "rocketchat"
	IntegrationIncidentio = "incidentio"
	IntegrationWeChat     = "wechat"
	IntegrationSNS        = "sns"
	IntegrationJira       = "jira"
)
