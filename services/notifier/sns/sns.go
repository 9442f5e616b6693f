// Package sns is the Amazon SNS integration: one Publish request (SNS's
// query API, a form POST) per notification, signed with SigV4 by the AWS
// SDK for Go v2's signer, to api_url (default the region's endpoint).
//
// As Alertmanager: the message goes to topic_arn, target_arn or
// phone_number; a topic whose ARN ends in .fifo gets the group key's
// SHA-256 as MessageGroupId and MessageDeduplicationId; the attributes
// (keys and values rendered) are String message attributes; the message
// is cut to 256 KiB (1600 bytes for a phone number) on a UTF-8 boundary,
// adding the attribute truncated=true; an invalid UTF-8 message is final.
//
// Credentials are sigv4's access_key and secret_key, else the
// environment's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN, read at each send; the region is sigv4's, else
// AWS_REGION. Alertmanager's shared-config profile and role assumption are
// refused by package config. Failures: SNS's <Error><Code>/<Message> on
// refusal; 4xx final, except a throttling refusal (400 with a throttling
// code: Throttling, TooManyRequests and the rest of the AWS SDK's list),
// rate-limited and retried as 429, 5xx and network errors are. The secret key
// and session token never appear in an error or a log line.
package sns

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/delivery"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// Message limits: SNS's 256 KiB, and SMS's 1600 (Alertmanager counts
// bytes).
const (
	maxMessageBytes = 256 * 1024
	maxSMSBytes     = 1600
)

// Service is SigV4's name of SNS.
const Service = "sns"

// ErrNoCredentials and ErrNoRegion: the configuration and the environment
// have none; final.
var (
	ErrNoCredentials = errors.New("no AWS credentials: set sigv4.access_key and secret_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	ErrNoRegion      = errors.New("region not configured in sns.sigv4.region or AWS_REGION")
)

// Notifier sends notifications to one SNS configuration.
type Notifier struct {
	cfg    *config.SNSConfig
	tmpl   *template.Template
	logger *slog.Logger
	client *delivery.Client
	signer *v4.Signer
	now    func() time.Time
}

var policy = delivery.Policy{Name: "sns", Detail: errorDetail}

// New returns a notifier for cfg (validated by package config) rendering
// with tmpl.
func New(cfg *config.SNSConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	client, err := delivery.NewClient(policy, cfg.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, tmpl: tmpl, logger: logger, client: client, signer: v4.NewSigner(), now: time.Now}, nil
}

// Notify publishes the notification. It reports whether a failure is
// worth retrying; the error never holds the secret key.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	creds, err := n.credentials()
	if err != nil {
		return false, notification.Failed(notification.ReasonConfig, err)
	}
	region := cmp.Or(n.cfg.SigV4.Region, os.Getenv("AWS_REGION"))
	if region == "" {
		return false, notification.Failed(notification.ReasonConfig, ErrNoRegion)
	}
	r := n.tmpl.Renderer(nt.Data())
	endpoint := r.Text("api_url", n.cfg.APIURL)
	form, truncated := n.publish(r, nt)
	if err := r.Err(); err != nil {
		return false, notification.Failed(notification.ReasonTemplate, err)
	}
	if !utf8.ValidString(form.Get("Message")) {
		return false, notification.Failed(notification.ReasonTemplate, errors.New("sns message is not valid UTF-8"))
	}
	if truncated {
		n.logger.Warn("sns message truncated", slog.String("receiver", nt.Receiver))
	}
	if endpoint == "" {
		endpoint = "https://sns." + region + ".amazonaws.com/"
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false, notification.Failed(notification.ReasonConfig, fmt.Errorf("sns api_url %q is not an http(s) URL", endpoint))
	}
	body := []byte(form.Encode())
	secrets := secret.Of(creds.SecretAccessKey, creds.SessionToken)
	header, err := n.sign(ctx, creds, region, u, body)
	if err != nil {
		return false, secrets.Redact(notification.Failed(notification.ReasonConfig, err))
	}
	answer, retryable, err := n.client.Send(ctx, delivery.Request{URL: u, Header: header, ContentType: contentType, Body: body, Secrets: secrets})
	if throttled(err) {
		return true, notification.Failed(notification.ReasonRateLimited, err)
	}
	if err != nil {
		return retryable, err
	}
	var out struct {
		MessageID string `xml:"PublishResult>MessageId"`
	}
	_ = xml.Unmarshal(answer, &out)
	n.logger.DebugContext(ctx, "sns message published", slog.String("receiver", nt.Receiver), slog.String("message_id", out.MessageID))
	return false, nil
}

const contentType = "application/x-www-form-urlencoded; charset=utf-8"

// publish renders the Publish request's form; it reports whether the
// message was cut.
func (n *Notifier) publish(r *template.Renderer, nt *notification.Notification) (url.Values, bool) {
	c := n.cfg
	form := url.Values{"Action": {"Publish"}, "Version": {"2010-03-31"}}
	limit := maxMessageBytes
	if c.TopicARN != "" {
		topic := r.Text("topic_arn", c.TopicARN)
		form.Set("TopicArn", topic)
		if strings.HasSuffix(topic, ".fifo") {
			form.Set("MessageGroupId", nt.KeyHash())
			form.Set("MessageDeduplicationId", nt.KeyHash())
		}
	}
	if c.PhoneNumber != "" {
		form.Set("PhoneNumber", r.Text("phone_number", c.PhoneNumber))
		limit = maxSMSBytes
	}
	if c.TargetARN != "" {
		form.Set("TargetArn", r.Text("target_arn", c.TargetARN))
	}
	if c.Subject != "" {
		form.Set("Subject", r.Text("subject", c.Subject))
	}
	message := r.Text("message", c.Message)
	truncated := len(message) > limit
	if truncated {
		message = cutBytes(message, limit)
	}
	form.Set("Message", message)
	attrs := map[string]string{}
	for k, v := range c.Attributes {
		attrs[r.Text("attributes."+k+".name", k)] = r.Text("attributes."+k, v)
	}
	if truncated {
		attrs["truncated"] = "true"
	}
	for i, k := range slices.Sorted(maps.Keys(attrs)) {
		p := "MessageAttributes.entry." + strconv.Itoa(i+1) + "."
		form.Set(p+"Name", k)
		form.Set(p+"Value.DataType", "String")
		form.Set(p+"Value.StringValue", attrs[k])
	}
	return form, truncated
}

// cutBytes cuts s to at most n bytes, not inside a rune.
func cutBytes(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// credentials are the static keys of the configuration, else the
// environment's.
func (n *Notifier) credentials() (aws.Credentials, error) {
	if n.cfg.SigV4.AccessKey != "" {
		return aws.Credentials{AccessKeyID: n.cfg.SigV4.AccessKey, SecretAccessKey: n.cfg.SigV4.SecretKey.Reveal(), Source: "sigv4 config"}, nil
	}
	id, key := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || key == "" {
		return aws.Credentials{}, ErrNoCredentials
	}
	return aws.Credentials{AccessKeyID: id, SecretAccessKey: key, SessionToken: os.Getenv("AWS_SESSION_TOKEN"), Source: "environment"}, nil
}

// sign returns the headers that sign a POST of body to u: the signer signs
// a request built as delivery builds it (same URL, body and content type),
// and its Authorization, X-Amz-Date and X-Amz-Security-Token are copied.
func (n *Notifier) sign(ctx context.Context, creds aws.Credentials, region string, u *url.URL, body []byte) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build sns request: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	sum := sha256.Sum256(body)
	if err := n.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), Service, region, n.now()); err != nil {
		return nil, fmt.Errorf("sign sns request: %w", err)
	}
	header := http.Header{}
	for _, k := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v := req.Header.Get(k); v != "" {
			header.Set(k, v)
		}
	}
	return header, nil
}

// errorDetail is SNS's error: <ErrorResponse><Error><Code>, <Message>.
func errorDetail(_ int, body []byte) string {
	var e struct {
		Code    string `xml:"Error>Code"`
		Message string `xml:"Error>Message"`
	}
	if xml.Unmarshal(body, &e) != nil || e.Code == "" {
		return ""
	}
	return strings.TrimSpace(e.Code + ": " + e.Message)
}

// throttled reports whether err is SNS's throttling refusal: a 400 (not a
// 429) whose error code, the start of errorDetail's text, is one of the
// AWS SDK's throttle codes or TooManyRequests.
func throttled(err error) bool {
	var status *notification.StatusError
	if !errors.As(err, &status) || status.Code != http.StatusBadRequest {
		return false
	}
	code, _, _ := strings.Cut(status.Body, ":")
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok || code == "TooManyRequests"
}
