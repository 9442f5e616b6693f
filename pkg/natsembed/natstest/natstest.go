// Package natstest starts a real embedded nats-server with JetStream for a
// test, on a free port and a temporary store, stopped when the test ends.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/natsembed"
)

// Server starts an embedded JetStream server and returns its client URL.
func Server(tb testing.TB) string {
	tb.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: tb.TempDir(), ListenAddress: "127.0.0.1:-1"})
	if err != nil {
		tb.Fatalf("start nats-server: %v", err)
	}
	tb.Cleanup(srv.Shutdown)
	return srv.ClientURL()
}

// ServerWith starts a nats-server with opts (auth, TLS, accounts…) on a
// free loopback port until the test ends; with JetStream on, its store is a
// temporary directory.
func ServerWith(tb testing.TB, opts *server.Options) *server.Server {
	tb.Helper()
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", -1, true, true
	if opts.JetStream && opts.StoreDir == "" {
		opts.StoreDir = tb.TempDir()
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("nats-server: %v", err)
	}
	srv.Start()
	tb.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats-server not ready")
	}
	return srv
}

// Connect opens a connection and a JetStream context, closed when the test
// ends.
func Connect(tb testing.TB, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		tb.Fatalf("connect to nats: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// Start is Server followed by Connect.
func Start(tb testing.TB) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	return Connect(tb, Server(tb))
}
