package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
)

// The keys, tokens and webhook URLs of the vendor integrations never print:
// not in String, JSON, fmt or slog.
func TestIntegrationSecretsNeverPrinted(t *testing.T) {
	secrets := []string{"pdR0ut1ngS3cr3t", "pdS3rv1c3S3cr3t", "0psg3n13S3cr3t", "t3l3gr4mS3cr3t", "d1sc0rdS3cr3t", "t34msS3cr3t", "t34msV2S3cr3t", "m4tt3rS3cr3t", "w3b3xS3cr3t"}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
global:
  opsgenie_api_key: %s
  telegram_bot_token: "1:%s"
route: {receiver: r}
receivers:
  - name: r
    pagerduty_configs: [{routing_key: %s}, {service_key: %s}]
    opsgenie_configs: [{}]
    telegram_configs: [{chat_id: 1}]
    discord_configs: [{webhook_url: "https://discord.com/api/webhooks/1/%s"}]
    msteams_configs: [{webhook_url: "https://x.webhook.office.com/%s"}]
    msteamsv2_configs: [{webhook_url: "https://x.logic.azure.com/invoke?sig=%s"}]
    mattermost_configs: [{webhook_url: "https://mm.example/hooks/%s"}]
    webex_configs: [{room_id: r, http_config: {authorization: {credentials: %s}}}]
`, secrets[2], secrets[3], secrets[0], secrets[1], secrets[4], secrets[5], secrets[6], secrets[7], secrets[8])), "")
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Receiver("r")
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "receiver", r, "global", cfg.Global)
	js, _ := json.Marshal(cfg)
	outputs := map[string]string{"String": cfg.String(), "json": string(js), "slog": logs.String()}
	for _, in := range r.Integrations() {
		outputs[in.Type+" %+v"] = fmt.Sprintf("%+v", in.Config)
		outputs[in.Type+" %v"] = fmt.Sprintf("%v", in.Config)
	}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s output reveals %q", name, s)
			}
		}
	}
	if got := r.OpsGenieConfigs[0].APIKey.Reveal(); got != secrets[2] {
		t.Errorf("opsgenie api_key falls back to the global one: %q", got)
	}
	if got := r.TelegramConfigs[0].BotToken.Reveal(); got != "1:"+secrets[3] {
		t.Errorf("telegram bot_token falls back to the global one: %q", got)
	}
}
