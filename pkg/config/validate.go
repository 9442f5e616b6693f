package config

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/klaxon-alerts/klaxon/pkg/matcher"
	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"
)

// position records where a decoded mapping and its keys are in the file, so
// that checks made after decoding can still point at a line.
type position struct {
	line int
	keys map[string]int
}

func (p position) at(key string) int {
	if l, ok := p.keys[key]; ok {
		return l
	}
	return p.line
}

// positioner is implemented by schema types that keep their position.
type positioner interface{ setPosition(position) }

func positionOf(n *yaml.Node, pairs []pair) position {
	p := position{line: n.Line, keys: make(map[string]int, len(pairs))}
	for _, kv := range pairs {
		p.keys[kv.key.Value] = kv.key.Line
	}
	return p
}

func reflectValue(ptr any) reflect.Value { return reflect.ValueOf(ptr).Elem() }

var yamlSyntaxLine = regexp.MustCompile(`^yaml: line (\d+): `)

func yamlErrorLine(err error) int {
	if m := yamlSyntaxLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

func cleanSyntaxError(err error) error {
	msg := yamlSyntaxLine.ReplaceAllString(err.Error(), "")
	return errors.New(msg)
}

// validation holds the checks that span sections: names that must exist or
// be unique, the root route's rules, and the receivers' global fallbacks.
type validation struct {
	*decoder
}

func (v *validation) at(line int, path string, err error) {
	v.fail(&yaml.Node{Line: line}, path, err)
}

func (v *validation) check(cfg *Config, raw *rawConfig) {
	cfg.receivers = make(map[string]*Receiver, len(cfg.Receivers))
	for i, r := range cfg.Receivers {
		path := fmt.Sprintf("receivers[%d]", i)
		if _, dup := cfg.receivers[r.Name]; dup {
			v.at(r.pos.at("name"), path+".name", fmt.Errorf("notification config name %q is not unique", r.Name))
			continue
		}
		cfg.receivers[r.Name] = r
		v.fallbacks(cfg.Global, r, path)
	}

	intervals := map[string]bool{}
	for i, ti := range raw.MuteTimeIntervals {
		if intervals[ti.Name] {
			v.at(ti.pos.at("name"), fmt.Sprintf("mute_time_intervals[%d].name", i), fmt.Errorf("mute time interval %q is not unique", ti.Name))
		}
		intervals[ti.Name] = true
	}
	for i, ti := range raw.TimeIntervals {
		if intervals[ti.Name] {
			v.at(ti.pos.at("name"), fmt.Sprintf("time_intervals[%d].name", i), fmt.Errorf("time interval %q is not unique", ti.Name))
		}
		intervals[ti.Name] = true
	}

	root := cfg.Route
	if root == nil {
		v.at(0, "route", errors.New("no route provided in config"))
		return
	}
	if root.Receiver == "" {
		v.at(root.pos.line, "route.receiver", errors.New("root route must specify a default receiver"))
	}
	if len(root.Match) > 0 || len(root.MatchRE) > 0 || len(root.Matchers) > 0 {
		v.at(root.pos.line, "route", errors.New("root route must not have any matchers"))
	}
	if len(root.MuteTimeIntervals) > 0 {
		v.at(root.pos.at("mute_time_intervals"), "route.mute_time_intervals", errors.New("root route must not have any mute time intervals"))
	}
	if len(root.ActiveTimeIntervals) > 0 {
		v.at(root.pos.at("active_time_intervals"), "route.active_time_intervals", errors.New("root route must not have any active time intervals"))
	}
	if root.Continue {
		v.at(root.pos.at("continue"), "route.continue", errors.New("cannot have continue in root route"))
	}
	v.routes(root, "route", cfg.receivers, intervals)
	// The UTF-8 rule for label names is the rules' own (validate); the
	// classic mode's stricter one is checked here.
	for i, r := range cfg.InhibitRules {
		for j, l := range r.Equal {
			if v.mode == matcher.Classic && !v.mode.ValidLabelName(l) {
				v.at(r.pos.at("equal"), fmt.Sprintf("inhibit_rules[%d].equal[%d]", i, j), fmt.Errorf("invalid label name %q in equal list", l))
			}
		}
	}
}

// routes checks, depth first, that every receiver and time interval a route
// names exists.
func (v *validation) routes(r *Route, path string, receivers map[string]*Receiver, intervals map[string]bool) {
	if r.Receiver != "" {
		if _, ok := receivers[r.Receiver]; !ok {
			v.at(r.pos.at("receiver"), path+".receiver", fmt.Errorf("undefined receiver %q used in route", r.Receiver))
		}
	}
	for _, list := range []struct {
		key   string
		names []string
	}{{"mute_time_intervals", r.MuteTimeIntervals}, {"active_time_intervals", r.ActiveTimeIntervals}} {
		for i, name := range list.names {
			if !intervals[name] {
				v.at(r.pos.at(list.key), fmt.Sprintf("%s.%s[%d]", path, list.key, i), fmt.Errorf("undefined time interval %q used in route", name))
			}
		}
	}
	for i, l := range r.GroupByStr {
		if v.mode == matcher.Classic && l != GroupByAllLabel && !v.mode.ValidLabelName(l) {
			v.at(r.pos.at("group_by"), fmt.Sprintf("%s.group_by[%d]", path, i), fmt.Errorf("invalid label name %q in group_by list", l))
		}
	}
	for i, c := range r.Routes {
		v.routes(c, fmt.Sprintf("%s.routes[%d]", path, i), receivers, intervals)
	}
}

// fallbacks fills a receiver's unset fields from the global section, as
// Alertmanager does, and reports what neither sets.
func (v *validation) fallbacks(g *GlobalConfig, r *Receiver, path string) {
	for _, w := range r.WebhookConfigs {
		if w.HTTPConfig == nil {
			w.HTTPConfig = g.HTTPConfig
		}
	}
	for i, s := range r.SlackConfigs {
		p := fmt.Sprintf("%s.slack_configs[%d]", path, i)
		v.slackFallbacks(g, s, r.pos.at("slack_configs"), p)
	}
	for i, c := range r.PagerdutyConfigs {
		c.HTTPConfig = cmp.Or(c.HTTPConfig, g.HTTPConfig)
		c.URL = cmp.Or(c.URL, g.PagerdutyURL)
		if c.URL == nil {
			v.at(r.pos.at("pagerduty_configs"), fmt.Sprintf("%s.pagerduty_configs[%d]", path, i), errors.New("no global PagerDuty URL set"))
		}
	}
	for _, c := range r.DiscordConfigs {
		c.HTTPConfig = cmp.Or(c.HTTPConfig, g.HTTPConfig)
	}
	for _, c := range r.MSTeamsConfigs {
		c.HTTPConfig = cmp.Or(c.HTTPConfig, g.HTTPConfig)
	}
	for _, c := range r.MSTeamsV2Configs {
		msTeamsV2Fallbacks(g, c)
	}
	for i, c := range r.WebexConfigs {
		c.APIURL = cmp.Or(c.APIURL, g.WebexAPIURL)
		if c.APIURL == nil {
			v.at(r.pos.at("webex_configs"), fmt.Sprintf("%s.webex_configs[%d]", path, i), errors.New("no global Webex URL set"))
		}
	}
	for i, c := range r.MattermostConfigs {
		v.mattermostFallbacks(g, c, r.pos.at("mattermost_configs"), fmt.Sprintf("%s.mattermost_configs[%d]", path, i))
	}
	for i, c := range r.TelegramConfigs {
		v.telegramFallbacks(g, c, r.pos.at("telegram_configs"), fmt.Sprintf("%s.telegram_configs[%d]", path, i))
	}
	for _, c := range r.PushoverConfigs {
		c.HTTPConfig = cmp.Or(c.HTTPConfig, g.HTTPConfig)
	}
	for i, c := range r.VictorOpsConfigs {
		v.victorOpsFallbacks(g, c, r.pos.at("victorops_configs"), fmt.Sprintf("%s.victorops_configs[%d]", path, i))
	}
	for i, c := range r.RocketchatConfigs {
		v.rocketchatFallbacks(g, c, r.pos.at("rocketchat_configs"), fmt.Sprintf("%s.rocketchat_configs[%d]", path, i))
	}
	for _, c := range r.IncidentioConfigs {
		c.HTTPConfig = cmp.Or(c.HTTPConfig, g.HTTPConfig)
	}
	for i, c := range r.JiraConfigs {
		v.jiraFallbacks(g, c, r.pos.at("jira_configs"), fmt.Sprintf("%s.jira_configs[%d]", path, i))
	}
	for _, c := range r.SNSConfigs {
		c.HTTPConfig = cmp.Or(c.HTTPConfig, g.HTTPConfig)
	}
	for i, c := range r.WeChatConfigs {
		v.weChatFallbacks(g, c, r.pos.at("wechat_configs"), fmt.Sprintf("%s.wechat_configs[%d]", path, i))
	}
	for i, c := range r.OpsGenieConfigs {
		v.opsGenieFallbacks(g, c, r.pos.at("opsgenie_configs"), fmt.Sprintf("%s.opsgenie_configs[%d]", path, i))
	}
	for i, e := range r.EmailConfigs {
		p := fmt.Sprintf("%s.email_configs[%d]", path, i)
		if e.TLSConfig == nil {
			e.TLSConfig = g.SMTPTLSConfig
		}
		if e.Smarthost.String() == "" {
			if g.SMTPSmarthost.String() == "" {
				v.at(r.pos.at("email_configs"), p, errors.New("no global SMTP smarthost set"))
			}
			e.Smarthost = g.SMTPSmarthost
		}
		if e.From == "" {
			if g.SMTPFrom == "" {
				v.at(r.pos.at("email_configs"), p, errors.New("no global SMTP from set"))
			}
			e.From = g.SMTPFrom
		}
		if e.Hello == "" {
			e.Hello = g.SMTPHello
		}
		if e.AuthUsername == "" {
			e.AuthUsername = g.SMTPAuthUsername
		}
		if e.AuthPassword == "" && e.AuthPasswordFile == "" {
			e.AuthPassword, e.AuthPasswordFile = g.SMTPAuthPassword, g.SMTPAuthPasswordFile
		}
		if e.AuthSecret == "" && e.AuthSecretFile == "" {
			e.AuthSecret, e.AuthSecretFile = g.SMTPAuthSecret, g.SMTPAuthSecretFile
		}
		if e.AuthIdentity == "" {
			e.AuthIdentity = g.SMTPAuthIdentity
		}
		if e.RequireTLS == nil {
			b := g.SMTPRequireTLS
			e.RequireTLS = &b
		}
		if e.ForceImplicitTLS == nil && g.SMTPForceImplicitTLS != nil {
			b := *g.SMTPForceImplicitTLS
			e.ForceImplicitTLS = &b
		}
	}
}

// slackFallbacks applies Alertmanager's rules for a Slack config: the app
// URL, token and webhook URL fall back to the global ones (the global token
// only when the config has no token, no authorization and no api_url of its
// own); with an app token, the token becomes the HTTP client's bearer
// authorization and the app URL the URL posted to. So a notifier only ever
// posts to APIURL (or the URL in APIURLFile) with HTTPConfig.
func (v *validation) slackFallbacks(g *GlobalConfig, s *SlackConfig, line int, path string) {
	if s.AppURL == nil {
		s.AppURL = g.SlackAppURL
	}
	if s.AppToken == "" && s.AppTokenFile == "" && s.APIURL == nil &&
		(s.HTTPConfig == nil || s.HTTPConfig.Authorization == nil) {
		s.AppToken, s.AppTokenFile = g.SlackAppToken, g.SlackAppTokenFile
	}
	if s.APIURL == nil && s.APIURLFile == "" {
		s.APIURL, s.APIURLFile = g.SlackAPIURL, g.SlackAPIURLFile
	}
	if s.APIURL == nil && s.APIURLFile == "" && s.AppToken == "" && s.AppTokenFile == "" {
		v.at(line, path, errors.New("no Slack API URL nor App token set either inline or in a file"))
		return
	}
	if s.UpdateMessage && s.AppToken == "" && s.AppTokenFile == "" && s.APIURL != nil && s.APIURL.URL != nil &&
		!strings.HasSuffix(s.APIURL.URL.Path, "/chat.postMessage") {
		v.at(line, path, errors.New("update_message needs an app token or the Web API's chat.postMessage as api_url: an incoming webhook cannot edit messages"))
		return
	}
	if s.HTTPConfig == nil {
		h := *g.HTTPConfig // a copy: the token below must not reach the global client
		s.HTTPConfig = &h
	}
	if s.AppToken != "" || s.AppTokenFile != "" {
		if s.HTTPConfig.Authorization != nil {
			v.at(line, path, errors.New("http authorization can't be set when using Slack App tokens"))
			return
		}
		h := *s.HTTPConfig
		h.Authorization = &commoncfg.Authorization{
			Type:            "Bearer",
			Credentials:     commoncfg.Secret(s.AppToken),
			CredentialsFile: s.AppTokenFile,
		}
		s.HTTPConfig = &h
		s.APIURL = &SecretURL{URL: s.AppURL.URL}
		s.APIURLFile = ""
	}
}
