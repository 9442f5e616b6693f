package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/services/notifier/discord"
	"github.com/klaxon-alerts/klaxon/services/notifier/email"
	"github.com/klaxon-alerts/klaxon/services/notifier/incidentio"
	"github.com/klaxon-alerts/klaxon/services/notifier/jira"
	"github.com/klaxon-alerts/klaxon/services/notifier/mattermost"
	"github.com/klaxon-alerts/klaxon/services/notifier/msteams"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/opsgenie"
	"github.com/klaxon-alerts/klaxon/services/notifier/pagerduty"
	"github.com/klaxon-alerts/klaxon/services/notifier/pushover"
	"github.com/klaxon-alerts/klaxon/services/notifier/rocketchat"
	"github.com/klaxon-alerts/klaxon/services/notifier/slack"
	"github.com/klaxon-alerts/klaxon/services/notifier/sns"
	"github.com/klaxon-alerts/klaxon/services/notifier/telegram"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
	"github.com/klaxon-alerts/klaxon/services/notifier/victorops"
	"github.com/klaxon-alerts/klaxon/services/notifier/webex"
	"github.com/klaxon-alerts/klaxon/services/notifier/webhook"
	"github.com/klaxon-alerts/klaxon/services/notifier/wechat"
)

// Errors resolving an integration; all are final for the message.
var (
	ErrNoConfig           = errors.New("no running config")
	ErrUnknownReceiver    = errors.New("receiver not in the running config")
	ErrUnknownIntegration = errors.New("integration not in the receiver's config")
	ErrUnsupported        = errors.New("integration type not supported")
	ErrTemplates          = errors.New("templates of the running config do not parse")
)

// Sender is what every integration implements: deliver one notification,
// saying whether a failure is worth retrying. Errors never hold secrets.
type Sender interface {
	Notify(ctx context.Context, n *notification.Notification) (retryable bool, err error)
}

// MessageSender is implemented by an integration that can edit the
// message it sent (Slack's update_message): it is given the message the
// group's last notification left (Notification.Message) and returns the
// one to edit next time, which the notification log keeps. nil: nothing to
// keep.
type MessageSender interface {
	NotifyMessage(ctx context.Context, n *notification.Notification) (sent *notification.Message, retryable bool, err error)
}

// integration is a built integration with the config facts the stage needs.
type integration struct {
	notifier     Sender
	sendResolved bool
}

// builder builds one type of integration from its configuration.
type builder struct {
	build func(cfg config.IntegrationConfig, tmpl *template.Template, logger *slog.Logger) (Sender, error)
	// templated is set when the integration renders templates: it cannot
	// be built while the config's templates do not parse.
	templated bool
}

// builders is the one place where integration types are registered: a
// type's name (as config.Receiver.Integrations and the grouper name it)
// and how its Sender is built.
var builders = map[string]builder{
	contract.IntegrationWebhook: {build: adapt(func(c *config.WebhookConfig, _ *template.Template, l *slog.Logger) (*webhook.Notifier, error) {
		return webhook.New(c, l)
	})},
	contract.IntegrationSlack:      {build: adapt(slack.New), templated: true},
	contract.IntegrationEmail:      {build: adapt(email.New), templated: true},
	contract.IntegrationPagerDuty:  {build: adapt(pagerduty.New), templated: true},
	contract.IntegrationOpsGenie:   {build: adapt(opsgenie.New), templated: true},
	contract.IntegrationDiscord:    {build: adapt(discord.New), templated: true},
	contract.IntegrationMSTeams:    {build: adapt(msteams.New), templated: true},
	contract.IntegrationMSTeamsV2:  {build: adapt(msteams.NewV2), templated: true},
	contract.IntegrationTelegram:   {build: adapt(telegram.New), templated: true},
	contract.IntegrationWebex:      {build: adapt(webex.New), templated: true},
	contract.IntegrationMattermost: {build: adapt(mattermost.New), templated: true},
	contract.IntegrationPushover:   {build: adapt(pushover.New), templated: true},
	contract.IntegrationVictorOps:  {build: adapt(victorops.New), templated: true},
	contract.IntegrationRocketchat: {build: adapt(rocketchat.New), templated: true},
	contract.IntegrationIncidentio: {build: adapt(incidentio.New)},
	contract.IntegrationWeChat:     {build: adapt(wechat.New), templated: true},
	contract.IntegrationSNS:        {build: adapt(sns.New), templated: true},
	contract.IntegrationJira:       {build: adapt(jira.New), templated: true},
}

// adapt turns an integration package's New into a builder's build.
func adapt[C config.IntegrationConfig, S Sender](newSender func(C, *template.Template, *slog.Logger) (S, error)) func(config.IntegrationConfig, *template.Template, *slog.Logger) (Sender, error) {
	return func(cfg config.IntegrationConfig, tmpl *template.Template, logger *slog.Logger) (Sender, error) {
		c, ok := cfg.(C)
		if !ok {
			return nil, fmt.Errorf("%w: configuration of type %T", ErrUnsupported, cfg)
		}
		return newSender(c, tmpl, logger)
	}
}

// newIntegration builds the integration in of receiver, rendering with
// tmpl.
func newIntegration(r *config.Receiver, in contract.Integration, tmpl *template.Template, logger *slog.Logger) (*integration, error) {
	name := fmt.Sprintf("%s/%s[%d]", in.Receiver, in.Type, in.Index)
	b, ok := builders[in.Type]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, in.Type)
	}
	cfg := r.Integration(in.Type, in.Index)
	if cfg == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownIntegration, name)
	}
	s, err := b.build(cfg, tmpl, logger)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &integration{notifier: s, sendResolved: cfg.SendsResolved()}, nil
}

// integrations caches built integrations for one config revision: the
// templates once, an HTTP client per integration, not per message. A new
// config drops the cache.
type integrations struct {
	logger *slog.Logger

	mu      sync.Mutex
	cfg     *config.Config
	tmpl    *template.Template
	tmplErr error
	built   map[contract.Integration]*integration
}

func newIntegrations(logger *slog.Logger) *integrations {
	return &integrations{logger: logger}
}

// get returns the integration in of the running config cfg.
func (c *integrations) get(cfg *config.Config, in contract.Integration) (*integration, error) {
	if cfg == nil {
		return nil, ErrNoConfig
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg != c.cfg {
		c.cfg, c.built = cfg, map[contract.Integration]*integration{}
		c.tmpl, c.tmplErr = template.FromConfig(cfg)
	}
	if integ, ok := c.built[in]; ok {
		return integ, nil
	}
	r := cfg.Receiver(in.Receiver)
	if r == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownReceiver, in.Receiver)
	}
	if c.tmplErr != nil && builders[in.Type].templated {
		return nil, fmt.Errorf("%w: %w", ErrTemplates, c.tmplErr)
	}
	integ, err := newIntegration(r, in, c.tmpl, c.logger.With(
		slog.String("receiver", in.Receiver), slog.String("integration", in.Type), slog.Int("index", in.Index)))
	if err != nil {
		return nil, err
	}
	c.built[in] = integ
	return integ, nil
}
