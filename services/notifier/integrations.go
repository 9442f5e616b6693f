package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/webhook"
)

// Errors resolving an integration; all are final for the message.
var (
	ErrNoConfig           = errors.New("no running config")
	ErrUnknownReceiver    = errors.New("receiver not in the running config")
	ErrUnknownIntegration = errors.New("integration not in the receiver's config")
	ErrUnsupported        = errors.New("integration type not supported")
)

// Sender is what every integration implements: deliver one notification,
// saying whether a failure is worth retrying. Errors never hold secrets.
type Sender interface {
	Notify(ctx context.Context, n *notification.Notification) (retryable bool, err error)
}

// integration is a built integration with the config facts the stage needs.
type integration struct {
	notifier     Sender
	sendResolved bool
}

// newIntegration builds the integration in of receiver: the one place where
// integration types are registered.
func newIntegration(r *config.Receiver, in contract.Integration, logger *slog.Logger) (*integration, error) {
	switch in.Type {
	case "webhook":
		if in.Index < 0 || in.Index >= len(r.WebhookConfigs) {
			return nil, fmt.Errorf("%w: %s/webhook[%d]", ErrUnknownIntegration, in.Receiver, in.Index)
		}
		cfg := r.WebhookConfigs[in.Index]
		wh, err := webhook.New(cfg, logger)
		if err != nil {
			return nil, fmt.Errorf("%s/webhook[%d]: %w", in.Receiver, in.Index, err)
		}
		return &integration{notifier: wh, sendResolved: cfg.SendResolved}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupported, in.Type)
}

// integrations caches built integrations for one config revision: an HTTP
// client per integration, not per message. A new config drops the cache.
type integrations struct {
	logger *slog.Logger

	mu    sync.Mutex
	cfg   *config.Config
	built map[contract.Integration]*integration
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
	}
	if integ, ok := c.built[in]; ok {
		return integ, nil
	}
	r := cfg.Receiver(in.Receiver)
	if r == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownReceiver, in.Receiver)
	}
	integ, err := newIntegration(r, in, c.logger.With(
		slog.String("receiver", in.Receiver), slog.String("integration", in.Type), slog.Int("index", in.Index)))
	if err != nil {
		return nil, err
	}
	c.built[in] = integ
	return integ, nil
}
