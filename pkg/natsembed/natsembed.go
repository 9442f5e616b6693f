// Package natsembed runs an embedded nats-server with JetStream: the NATS of
// the one-process Klaxon and of every test.
package natsembed

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configures the embedded server.
type Options struct {
	// StoreDir is where JetStream keeps its file store.
	StoreDir string
	// ListenAddress is host:port for NATS clients; port -1 picks a free one.
	ListenAddress string
	// Logger receives the server's notices and errors; nil discards them.
	Logger *slog.Logger
}

// Server is a running embedded nats-server.
type Server struct{ srv *server.Server }

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
	srv, err := server.NewServer(&server.Options{
		ServerName: "klaxon",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		NoSigs:     true,
		// An alert may be up to a quarter of this (alert.SizeLimit): 2 MiB,
		// more than any sender has reason to post. The server's default is
		// 1 MiB; 8 MiB is the most NATS recommends.
		MaxPayload: 8 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	if opts.Logger != nil {
		srv.SetLoggerV2(logAdapter{opts.Logger.With("component", "nats-server")}, false, false, false)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, ErrNotReady
	}
	return &Server{srv: srv}, nil
}

// ClientURL is the URL clients connect to.
func (s *Server) ClientURL() string { return s.srv.ClientURL() }

// Shutdown stops the server and waits for it to finish.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

// logAdapter forwards the server's logs to slog; debug and trace are dropped.
type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a logAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a logAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a logAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a logAdapter) Debugf(string, ...any)           {}
func (a logAdapter) Tracef(string, ...any)           {}
