package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/klaxon-alerts/klaxon/pkg/fault"
	"github.com/klaxon-alerts/klaxon/services/notifier/delivery"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
)

// maxBody bounds how much of an answer is read.
const maxBody = 64 << 10

// maxErrorBody bounds how much of an answer goes into an error.
const maxErrorBody = 256

// RefusedError is Slack's refusal of a message: an {"ok": false} answer
// with its error code, or an incoming webhook's answer other than "ok".
type RefusedError struct {
	// Reason is Slack's error code ("channel_not_found") or the webhook's
	// answer ("invalid_payload"), secrets removed.
	Reason string
}

func (e *RefusedError) Error() string { return "slack refused the message: " + e.Reason }

// transientErrors are the Web API's error codes worth retrying.
var transientErrors = []string{"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}

// goneErrors are chat.update's error codes for a message that cannot be
// edited any more: a new message is posted instead.
var goneErrors = []string{"message_not_found", "cant_update_message", "edit_window_closed", "channel_not_found", "is_archived"}

// postWebhook posts msg as JSON to the configured URL: an incoming webhook,
// or the Web API's chat.postMessage with a bearer authorization from
// http_config, in which case prev (if any) is edited with chat.update.
func (n *Notifier) postWebhook(ctx context.Context, msg *message, prev *notification.Message) (*notification.Message, bool, error) {
	u, err := n.target()
	if err != nil {
		// A file being rotated (a mounted secret) reads fine a moment later.
		return nil, true, notification.Failed(notification.ReasonConfig, err)
	}
	secrets := secret.URL(u).With(n.creds)
	if n.cfg.UpdateMessage && !isPostMessage(u) {
		return nil, false, notification.Failed(notification.ReasonConfig, ErrUpdateNeedsAPI)
	}
	method, payload := "webhook", msg
	if prev != nil {
		u = sibling(u, update)
		secrets = secrets.With(secret.URL(u))
		m := *msg
		m.Channel, m.Timestamp = prev.Channel, prev.ID
		method, payload = update, &m
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, false, fmt.Errorf("encode slack message: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, false, secrets.Redact(fmt.Errorf("build slack request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = secret.Redacted
		}
		err = delivery.WithContextCause(ctx, err)
		return nil, true, secrets.Redact(notification.Failed(delivery.TransportReason(err), fmt.Errorf("post slack %s: %w", method, err)))
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
	}()
	answer, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	sent, retryable, err := n.classifyHTTP(resp, answer, readErr, secrets)
	if err != nil {
		if prev != nil && messageGone(err) {
			n.logger.InfoContext(ctx, "slack message to update is gone, posting a new one", slog.Any("err", secrets.Redact(err)))
			return n.postWebhook(ctx, msg, nil)
		}
		return nil, retryable, secrets.Redact(fmt.Errorf("slack %s: %w", method, err))
	}
	if sent == nil && prev != nil {
		sent = prev
	}
	return sent, false, nil
}

// apiAnswer is the Web API's answer.
type apiAnswer struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// classifyHTTP maps a webhook (or Web API) answer to the message posted (a
// Web API answer's channel and ts), whether to retry, and the error: 2xx
// with "ok" (webhook) or {"ok": true} (Web API) succeeds; 429 is retryable
// after its Retry-After; 5xx retryable; any other status, an {"ok": false}
// and a webhook answer other than "ok" final.
func (n *Notifier) classifyHTTP(resp *http.Response, body []byte, readErr error, secrets secret.Set) (*notification.Message, bool, error) {
	code := resp.StatusCode
	if code/100 != 2 {
		var err error = &notification.StatusError{Code: code, Body: snippet([]byte(secrets.Scrub(string(body))))}
		switch {
		case code == http.StatusTooManyRequests:
			err = notification.Failed(notification.ReasonRateLimited, err)
			if d, ok := notification.ParseRetryAfter(resp.Header.Get("Retry-After"), n.now()); ok {
				err = fault.RetryAfter(err, d)
			}
			return nil, true, err
		case code/100 == 5:
			return nil, true, notification.Failed(notification.ReasonServerError, err)
		}
		return nil, false, notification.Failed(notification.ReasonClientError, err)
	}
	if readErr != nil {
		return nil, true, fmt.Errorf("read answer: %w", readErr)
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct == "application/json" {
		var a apiAnswer
		if err := json.Unmarshal(body, &a); err != nil {
			return nil, true, fmt.Errorf("answer is not Slack's JSON: %w", err)
		}
		if !a.OK {
			transient := slices.Contains(transientErrors, a.Error)
			return nil, transient, refused(a.Error, transient, secrets)
		}
		if a.TS == "" {
			return nil, false, nil
		}
		return &notification.Message{Channel: a.Channel, ID: a.TS}, false, nil
	}
	if text := strings.TrimSpace(string(body)); text != "ok" {
		return nil, false, refused(text, false, secrets)
	}
	return nil, false, nil
}

// refused is the error for Slack's refusal with its code or text.
func refused(code string, transient bool, secrets secret.Set) error {
	// Scrub before cutting: a secret cut in two would not be found.
	code = snippet([]byte(secrets.Scrub(code)))
	if code == "" {
		code = "no reason given"
	}
	reason := notification.ReasonClientError
	if transient {
		reason = notification.ReasonServerError
	}
	return notification.Failed(reason, &RefusedError{Reason: code})
}

// classifyAPI maps a slack-go error of a Web API method to (retryable,
// error).
func (n *Notifier) classifyAPI(ctx context.Context, method string, err error) (bool, error) {
	var (
		rate   *slackapi.RateLimitedError
		status slackapi.StatusCodeError
		api    slackapi.SlackErrorResponse
	)
	switch {
	case errors.As(err, &rate):
		e := notification.Failed(notification.ReasonRateLimited, fmt.Errorf("slack %s: %w", method, err))
		return true, fault.RetryAfter(e, min(rate.RetryAfter, notification.MaxRetryAfter))
	case errors.As(err, &status):
		e := fmt.Errorf("slack %s: %w", method, &notification.StatusError{Code: status.Code})
		switch {
		case status.Code == http.StatusTooManyRequests:
			return true, notification.Failed(notification.ReasonRateLimited, e)
		case status.Code/100 == 5:
			return true, notification.Failed(notification.ReasonServerError, e)
		}
		return false, notification.Failed(notification.ReasonClientError, e)
	case errors.As(err, &api):
		e := fmt.Errorf("slack %s: %w", method, &RefusedError{Reason: api.Err})
		if slices.Contains(transientErrors, api.Err) {
			return true, notification.Failed(notification.ReasonServerError, e)
		}
		return false, notification.Failed(notification.ReasonClientError, e)
	}
	err = delivery.WithContextCause(ctx, err)
	return true, notification.Failed(delivery.TransportReason(err), fmt.Errorf("slack %s: %w", method, err))
}

// messageGone reports whether chat.update failed because the message can no
// longer be edited.
func messageGone(err error) bool {
	var api slackapi.SlackErrorResponse
	var refused *RefusedError
	return (errors.As(err, &api) && slices.Contains(goneErrors, api.Err)) ||
		(errors.As(err, &refused) && slices.Contains(goneErrors, refused.Reason))
}

func snippet(b []byte) string {
	if len(b) > maxErrorBody {
		b = b[:maxErrorBody]
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
}
