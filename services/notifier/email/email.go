// Package email is the e-mail integration: one message per notification,
// composed with gopkg.in/gomail.v2 (multipart/alternative text and HTML
// parts, quoted-printable, RFC 2047 headers) and delivered over SMTP with
// Alertmanager's rules:
//
//   - the smarthost is dialled with implicit TLS when force_implicit_tls is
//     set, or (unset) when its port is 465; otherwise in clear, then
//     STARTTLS, which is required unless require_tls is false (a server that
//     does not offer it is an error, not a downgrade);
//   - tls_config verifies the server (server name default: the smarthost's
//     host);
//   - with auth_username, the first mechanism the server offers that the
//     credentials allow is used: CRAM-MD5 (auth_secret), PLAIN or LOGIN
//     (auth_password); the *_file variants are read at each send;
//   - the envelope is from (exactly one address) to every address of to;
//     the headers are the templated headers, with Subject, To and From
//     defaulting to the default subject, to and from; Message-Id is set
//     unless configured; threading adds References and In-Reply-To naming
//     one root per group (and per day with thread_by_date: daily), in
//     Alertmanager's form, so that threads continue across a migration.
//
// gomail's own Dialer is not used for delivery: it cannot be cancelled or
// bounded by a context, it upgrades to STARTTLS only when offered (so it
// cannot require it), and it sends to the addresses of the To header rather
// than to the configured envelope. The message is gomail's; the session
// (package smtp of the standard library, deadlines from the context) is
// ours, behind gomail's Sender interface.
//
// Failures: network errors, timeouts and SMTP 4xx replies are retryable; an
// SMTP 5xx reply (a refused sender, recipient or login) is final, as are
// template errors and unusable addresses. The password and the CRAM-MD5
// secret never appear in an error or a log line.
package email

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/mail"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/gomail.v2"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	"github.com/klaxon-alerts/klaxon/services/notifier/secret"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// DefaultSubject is the Subject header when headers do not set one.
const DefaultSubject = `{{ template "email.default.subject" . }}`

// addressHeaders are the headers whose values are address lists.
var addressHeaders = []string{"From", "To", "Cc", "Bcc", "Reply-To", "Sender"}

// Errors of an unusable message; final.
var (
	ErrFrom = errors.New("from must be exactly one address")
	ErrTo   = errors.New("to must be a list of addresses")
)

// Notifier sends notifications to one e-mail configuration.
type Notifier struct {
	cfg      *config.EmailConfig
	tmpl     *template.Template
	logger   *slog.Logger
	hostname string
	now      func() time.Time
}

// New returns a notifier for cfg (validated, global fallbacks applied by
// package config) rendering with tmpl.
func New(cfg *config.EmailConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Smarthost.Host == "" || cfg.Smarthost.Port == "" {
		return nil, errors.New("email: smarthost is not set")
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost.localdomain"
	}
	return &Notifier{cfg: cfg, tmpl: tmpl, logger: logger, hostname: host, now: time.Now}, nil
}

// Notify renders and delivers the notification. It reports whether a
// failure is worth retrying; the error never holds a credential.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (bool, error) {
	msg, from, to, err := n.compose(nt)
	if err != nil {
		return false, err
	}
	creds, err := n.credentials()
	if err != nil {
		// A file being rotated (a mounted secret) reads fine a moment later.
		return true, notification.Failed(notification.ReasonConfig, err)
	}
	retryable, err := n.deliver(ctx, creds, from, to, msg)
	if err != nil {
		return retryable, creds.secrets().Redact(err)
	}
	n.logger.DebugContext(ctx, "email notified",
		slog.String("receiver", nt.Receiver),
		slog.Int("recipients", len(to)),
		slog.Int("alerts", len(nt.Alerts)))
	return false, nil
}

// compose renders the message and its envelope.
func (n *Notifier) compose(nt *notification.Notification) (msg *gomail.Message, from string, to []string, err error) {
	r := n.tmpl.Renderer(nt.Data())
	text := r.Text
	c := n.cfg
	fromText, toText := text("from", c.From), text("to", c.To)
	headers := map[string]string{}
	for k, v := range c.Headers {
		headers[textproto.CanonicalMIMEHeaderKey(k)] = text("headers."+k, v)
	}
	for k, src := range map[string]string{"Subject": DefaultSubject, "To": c.To, "From": c.From} {
		if _, ok := c.Headers[k]; !ok {
			headers[k] = text("headers."+k, src)
		}
	}
	plain := text("text", c.Text)
	html := r.HTML("html", c.HTML)
	if err := r.Err(); err != nil {
		return nil, "", nil, notification.Failed(notification.ReasonTemplate, err)
	}

	froms, err := mail.ParseAddressList(fromText)
	if err != nil || len(froms) != 1 {
		return nil, "", nil, notification.Failed(notification.ReasonConfig, fmt.Errorf("%w: %q", ErrFrom, fromText))
	}
	tos, err := mail.ParseAddressList(toText)
	if err != nil {
		return nil, "", nil, notification.Failed(notification.ReasonConfig, fmt.Errorf("%w: %q: %w", ErrTo, toText, err))
	}
	for _, a := range tos {
		to = append(to, a.Address)
	}

	m := gomail.NewMessage(gomail.SetCharset("UTF-8"), gomail.SetEncoding(gomail.QuotedPrintable))
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v := headers[k]
		if !slices.Contains(addressHeaders, k) {
			m.SetHeader(k, v) // RFC 2047-encoded when not plain ASCII (CR and LF included)
			continue
		}
		addrs, err := mail.ParseAddressList(v)
		if err != nil {
			return nil, "", nil, notification.Failed(notification.ReasonConfig, fmt.Errorf("header %s %q: %w", k, v, err))
		}
		formatted := make([]string, 0, len(addrs))
		for _, a := range addrs {
			formatted = append(formatted, m.FormatAddress(a.Address, a.Name))
		}
		m.SetHeader(k, formatted...)
	}
	if _, ok := headers["Message-Id"]; !ok {
		m.SetHeader("Message-Id", n.messageID())
	}
	if c.Threading.Enabled {
		root := threadRoot(nt.GroupKey, nt.At, c.Threading.ThreadByDate)
		m.SetHeader("References", root)
		m.SetHeader("In-Reply-To", root)
	}
	m.SetDateHeader("Date", n.now())
	switch {
	case plain != "" && html != "":
		// The preferred alternative last (RFC 2046, 5.1.4).
		m.SetBody("text/plain", plain)
		m.AddAlternative("text/html", html)
	case html != "":
		m.SetBody("text/html", html)
	default:
		m.SetBody("text/plain", plain)
	}
	return m, froms[0].Address, to, nil
}

// messageID returns a new Message-Id.
func (n *Notifier) messageID() string {
	r, err := rand.Int(rand.Reader, new(big.Int).SetUint64(1<<63))
	if err != nil {
		r = big.NewInt(0)
	}
	return fmt.Sprintf("<%d.%d@%s>", n.now().UnixNano(), r, n.hostname)
}

// threadRoot is the Message-Id every notification of a group refers to:
// Alertmanager's form (the first 16 hex digits of the group key's SHA-256,
// and the day at the flush time in UTC unless by is "none"), so that a
// thread continues when Klaxon replaces Alertmanager.
func threadRoot(groupKey string, at time.Time, by string) string {
	sum := sha256.Sum256([]byte(groupKey))
	day := ""
	if by != "none" {
		day = at.UTC().Format("2006-01-02")
	}
	return fmt.Sprintf("<alert-%s-%s@alertmanager>", hex.EncodeToString(sum[:])[:16], day)
}

// credentials are the SMTP login, read at each send.
type credentials struct {
	username, identity, password, secret string
}

func (c credentials) secrets() secret.Set { return secret.Of(c.password, c.secret) }

func (n *Notifier) credentials() (credentials, error) {
	c := n.cfg
	cr := credentials{username: c.AuthUsername, identity: c.AuthIdentity, password: c.AuthPassword.Reveal(), secret: c.AuthSecret.Reveal()}
	if c.AuthPasswordFile != "" {
		b, err := os.ReadFile(c.AuthPasswordFile)
		if err != nil {
			// The path is configuration, not the secret.
			return cr, fmt.Errorf("read auth_password_file %s: %w", c.AuthPasswordFile, err)
		}
		cr.password = strings.TrimSpace(string(b))
	}
	if c.AuthSecretFile != "" {
		b, err := os.ReadFile(c.AuthSecretFile)
		if err != nil {
			return cr, fmt.Errorf("read auth_secret_file %s: %w", c.AuthSecretFile, err)
		}
		cr.secret = strings.TrimSpace(string(b))
	}
	return cr, nil
}
