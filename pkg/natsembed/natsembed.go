// Package natsembed runs an embedded nats-server with JetStream: the NATS of
// the one-process Klaxon and of every test.
//
// Guarded, the server has two accounts. KLAXON holds JetStream and every
// stream and bucket; the process's own stages join it in process (no TCP)
// as a user whose password is random per start, and so may a user given as
// Admin, over TCP.
// PUBLISH is where a TCP client without credentials lands: it may publish
// on klaxon.alerts.in, which KLAXON exports to it as a service so that
// JetStream's acknowledgement comes back, and subscribe to its own _INBOX.>
// for that acknowledgement. Being another account, it sees no subject,
// stream, bucket or reply of KLAXON. Not guarded (tests), it is one open
// account.
package natsembed

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
)

// Options configures the embedded server.
type Options struct {
	// StoreDir is where JetStream keeps its file store.
	StoreDir string
	// ListenAddress is host:port for NATS clients; port -1 picks a free one.
	ListenAddress string
	// Logger receives the server's notices and errors; nil discards them.
	Logger *slog.Logger
	// Guarded splits the server into the KLAXON and PUBLISH accounts (see
	// the package documentation); false leaves it open to every client.
	Guarded bool
	// AdminUser and AdminPassword, if set and Guarded, may connect over TCP
	// with every permission of the KLAXON account (klaxon dlq, the nats
	// CLI). A user needs a password.
	AdminUser     string
	AdminPassword string
}

// Server is a running embedded nats-server.
type Server struct {
	srv *server.Server
	// password of the in-process user the stages connect as.
	password string
}

// Accounts and users of the embedded server.
const (
	AccountKlaxon  = "KLAXON"
	AccountPublish = "PUBLISH"
	internalUser   = "klaxon-internal"
	anonymousUser  = "anonymous"
)

// accounts is the server configuration of the two accounts; the %q are
// the internal and anonymous users' random passwords.
const accounts = `
accounts {
  ` + AccountKlaxon + ` {
    jetstream: enabled
    users: [{user: ` + internalUser + `, password: %q}]
    exports: [{service: "` + contract.SubjectAlertsIn + `"}]
  }
  ` + AccountPublish + ` {
    users: [{
      user: ` + anonymousUser + `, password: %q
      permissions: {
        publish: {allow: ["` + contract.SubjectAlertsIn + `"]}
        subscribe: {allow: ["_INBOX.>"]}
      }
    }]
    imports: [{service: {account: ` + AccountKlaxon + `, subject: "` + contract.SubjectAlertsIn + `"}}]
  }
}
no_auth_user: ` + anonymousUser + `
`

// ErrNotReady is returned when the server did not start accepting clients.
var ErrNotReady = errors.New("embedded nats-server not ready")

// Start starts the server and waits until it accepts clients.
func Start(opts Options) (*Server, error) {
	host, portStr, err := net.SplitHostPort(opts.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("nats listen address %q: %w", opts.ListenAddress, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("nats listen address %q: %w", opts.ListenAddress, err)
	}
	switch {
	case opts.AdminUser != "" && opts.AdminPassword == "":
		return nil, errors.New("embedded nats-server: the administrator needs a password")
	case opts.AdminUser == internalUser || opts.AdminUser == anonymousUser:
		return nil, fmt.Errorf("embedded nats-server: the administrator cannot be called %q", opts.AdminUser)
	}
	so := &server.Options{}
	var password string
	if opts.Guarded {
		password = rand.Text()
		if err := so.ProcessConfigString(fmt.Sprintf(accounts, password, rand.Text())); err != nil {
			return nil, fmt.Errorf("embedded nats-server accounts: %w", err)
		}
	}
	so.ServerName, so.Host, so.Port = "klaxon", host, port
	so.JetStream, so.StoreDir, so.NoSigs = true, opts.StoreDir, true
	// An alert may be up to a quarter of this (alert.SizeLimit): 2 MiB,
	// more than any sender has reason to post. The server's default is
	// 1 MiB; 8 MiB is the most NATS recommends.
	so.MaxPayload = 8 << 20
	if opts.AdminUser != "" {
		// Added here rather than in the text: the password never passes
		// through the config parser's quoting.
		for _, u := range so.Users {
			if u.Username == internalUser {
				so.Users = append(so.Users, &server.User{Username: opts.AdminUser, Password: opts.AdminPassword, Account: u.Account})
				break
			}
		}
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fatal := make(chan string, 1)
	srv.SetLoggerV2(logAdapter{l: logger.With("component", "nats-server"), fatal: fatal}, false, false, false)
	srv.Start()
	if err := awaitReady(srv, fatal); err != nil {
		srv.Shutdown()
		return nil, err
	}
	return &Server{srv: srv, password: password}, nil
}

// readyTimeout bounds how long a starting server may take to accept
// clients. It is generous: a busy machine (CI's two cores running several
// Klaxons) can be slow to start JetStream; a server that cannot start at
// all (its port taken) says so at once through a fatal log.
const readyTimeout = 30 * time.Second

// awaitReady waits until srv accepts clients, or fails with the first
// fatal error the server logged (a listener that could not bind), or after
// readyTimeout.
func awaitReady(srv *server.Server, fatal <-chan string) error {
	deadline := time.Now().Add(readyTimeout)
	for !srv.ReadyForConnections(100 * time.Millisecond) {
		select {
		case msg := <-fatal:
			return fmt.Errorf("%w: %s", ErrNotReady, msg)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w within %s", ErrNotReady, readyTimeout)
		}
	}
	return nil
}

// ClientURL is the URL TCP clients connect to.
func (s *Server) ClientURL() string { return s.srv.ClientURL() }

// ConnectOptions connect in process, without TCP, to the KLAXON account
// with every permission: for this process's own stages only.
func (s *Server) ConnectOptions() []nats.Option {
	if s.password == "" {
		return []nats.Option{nats.InProcessServer(s.srv)}
	}
	return []nats.Option{nats.InProcessServer(s.srv), nats.UserInfo(internalUser, s.password)}
}

// Shutdown stops the server and waits for it to finish.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

// logAdapter forwards the server's logs to slog; debug and trace are dropped.
// The first fatal message also goes to fatal, for Start to fail with.
type logAdapter struct {
	l     *slog.Logger
	fatal chan<- string
}

func (a logAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a logAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a logAdapter) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	a.l.Error(msg)
	select {
	case a.fatal <- msg:
	default:
	}
}
func (a logAdapter) Errorf(format string, v ...any) { a.l.Error(fmt.Sprintf(format, v...)) }
func (a logAdapter) Debugf(string, ...any)          {}
func (a logAdapter) Tracef(string, ...any)          {}
