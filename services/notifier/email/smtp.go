package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/gomail.v2"

	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
)

// ErrNoSTARTTLS is returned when require_tls is set and the server does not
// offer STARTTLS.
var ErrNoSTARTTLS = errors.New("require_tls is set but the server does not offer STARTTLS")

// deliver opens an SMTP session to the smarthost and sends msg from from to
// to. The whole session is bounded by ctx: its deadline is the
// connection's, and cancelling it aborts the session.
func (n *Notifier) deliver(ctx context.Context, creds credentials, from string, to []string, msg *gomail.Message) (retryable bool, err error) {
	c := n.cfg
	implicit := c.Smarthost.Port == "465"
	if c.ForceImplicitTLS != nil {
		implicit = *c.ForceImplicitTLS
	}
	var tlsCfg *tls.Config
	if implicit || c.RequireTLS == nil || *c.RequireTLS {
		var tc commoncfg.TLSConfig
		if c.TLSConfig != nil {
			tc = c.TLSConfig.TLSConfig
		}
		if tlsCfg, err = commoncfg.NewTLSConfig(&tc); err != nil {
			return false, notification.Failed(notification.ReasonConfig, fmt.Errorf("tls_config: %w", err))
		}
		if tlsCfg.ServerName == "" {
			tlsCfg.ServerName = c.Smarthost.Host
		}
	}

	addr := c.Smarthost.String()
	var conn net.Conn
	if implicit {
		conn, err = (&tls.Dialer{Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return true, transportFailure(ctx, fmt.Errorf("connect to %s: %w", addr, err))
	}
	// The session's I/O ends at ctx's deadline, or at once when ctx is done.
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	client, err := smtp.NewClient(conn, c.Smarthost.Host)
	if err != nil {
		_ = conn.Close()
		return classify(ctx, "greeting", err)
	}
	defer func() {
		if err != nil {
			_ = client.Close()
			return
		}
		if qerr := client.Quit(); qerr != nil {
			n.logger.DebugContext(ctx, "smtp quit failed", "err", qerr)
		}
	}()

	if c.Hello != "" {
		if err := client.Hello(c.Hello); err != nil {
			return classify(ctx, "EHLO", err)
		}
	}
	if !implicit && (c.RequireTLS == nil || *c.RequireTLS) {
		if ok, _ := client.Extension("STARTTLS"); !ok {
			return true, notification.Failed(notification.ReasonServerError, fmt.Errorf("%s: %w", addr, ErrNoSTARTTLS))
		}
		if err := client.StartTLS(tlsCfg); err != nil {
			return classify(ctx, "STARTTLS", err)
		}
	}
	if ok, mechs := client.Extension("AUTH"); ok && creds.username != "" {
		auth, err := chooseAuth(mechs, creds, c.Smarthost.Host)
		if err != nil {
			return false, notification.Failed(notification.ReasonConfig, err)
		}
		if err := client.Auth(auth); err != nil {
			return classify(ctx, "AUTH", err)
		}
	}
	s := &session{client: client}
	if err := s.Send(from, to, msg); err != nil {
		return classify(ctx, s.step, err)
	}
	return false, nil
}

// session is one SMTP transaction behind gomail's Sender interface.
type session struct {
	client *smtp.Client
	step   string // the command that failed
}

var _ gomail.Sender = (*session)(nil)

// Send sends msg from from to every address of to.
func (s *session) Send(from string, to []string, msg io.WriterTo) error {
	s.step = "MAIL FROM"
	if err := s.client.Mail(from); err != nil {
		return err
	}
	s.step = "RCPT TO"
	for _, addr := range to {
		if err := s.client.Rcpt(addr); err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
	}
	s.step = "DATA"
	w, err := s.client.Data()
	if err != nil {
		return err
	}
	if _, err := msg.WriteTo(w); err != nil {
		_ = w.Close()
		return err
	}
	s.step = "end of DATA"
	return w.Close()
}

// classify maps a failed SMTP step to (retryable, error): a 5xx reply is
// final, a 4xx reply and the rest retryable.
func classify(ctx context.Context, step string, err error) (bool, error) {
	var te *textproto.Error
	if errors.As(err, &te) {
		err = fmt.Errorf("smtp %s: %w", step, err)
		if te.Code/100 == 5 {
			return false, notification.Failed(notification.ReasonClientError, err)
		}
		return true, notification.Failed(notification.ReasonServerError, err)
	}
	return true, transportFailure(ctx, fmt.Errorf("smtp %s: %w", step, err))
}

// transportFailure marks an error without an SMTP reply, keeping ctx's
// cause (the send's time limit) in the chain.
func transportFailure(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		for _, e := range []error{context.Cause(ctx), ctx.Err()} {
			if !errors.Is(err, e) {
				err = fmt.Errorf("%w: %w", err, e)
			}
		}
	}
	reason := notification.ReasonOther
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		reason = notification.ReasonTimeout
	case errors.Is(err, context.Canceled):
		reason = notification.ReasonCanceled
	}
	return notification.Failed(reason, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// chooseAuth picks the first of the server's mechanisms the credentials
// allow, as Alertmanager does.
func chooseAuth(mechs string, c credentials, host string) (smtp.Auth, error) {
	var errs []error
	for _, mech := range strings.Fields(mechs) {
		switch strings.ToUpper(mech) {
		case "CRAM-MD5":
			if c.secret == "" {
				errs = append(errs, errors.New("missing secret for CRAM-MD5 auth mechanism"))
				continue
			}
			return smtp.CRAMMD5Auth(c.username, c.secret), nil
		case "PLAIN":
			if c.password == "" {
				errs = append(errs, errors.New("missing password for PLAIN auth mechanism"))
				continue
			}
			return smtp.PlainAuth(c.identity, c.username, c.password, host), nil
		case "LOGIN":
			if c.password == "" {
				errs = append(errs, errors.New("missing password for LOGIN auth mechanism"))
				continue
			}
			return &loginAuth{username: c.username, password: c.password}, nil
		default:
			errs = append(errs, fmt.Errorf("unsupported auth mechanism %s", mech))
		}
	}
	return nil, fmt.Errorf("no usable SMTP auth mechanism among %q: %w", mechs, errors.Join(errs...))
}

// loginAuth is the LOGIN mechanism (not in net/smtp): the username and
// password in answer to the server's two prompts. Like smtp.PlainAuth it
// refuses to send them over a connection that is neither TLS nor local.
type loginAuth struct {
	username, password string
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !isLocal(server.Name) {
		return "", nil, errors.New("LOGIN auth over an unencrypted connection")
	}
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch strings.ToLower(strings.TrimSpace(string(fromServer))) {
	case "username:":
		return []byte(a.username), nil
	case "password:":
		return []byte(a.password), nil
	}
	return nil, errors.New("unexpected LOGIN challenge from the server")
}

func isLocal(name string) bool {
	return name == "localhost" || name == "127.0.0.1" || name == "::1"
}
