package natsembed_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

func start(t *testing.T) *natsembed.Server {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{
		StoreDir: t.TempDir(), ListenAddress: "127.0.0.1:-1", Guarded: true,
		AdminUser: "admin", AdminPassword: "adm1n",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// client connects with opts; asynchronous errors (permission violations)
// arrive on the returned channel.
func client(t *testing.T, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream, <-chan error) {
	t.Helper()
	errs := make(chan error, 16)
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	nc, js := natstest.Connect(t, url, opts...)
	return nc, js, errs
}

// wantViolation waits, with a deadline, for a permission violation naming
// subject.
func wantViolation(t *testing.T, errs <-chan error, subject string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case err := <-errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				return
			}
		case <-deadline:
			t.Fatalf("no permission violation for %s", subject)
		}
	}
}

// The stages (in process) own everything; an anonymous TCP client may
// publish alerts with JetStream acknowledgements and nothing else.
func TestAnonymousClientMayOnlyPublishAlerts(t *testing.T) {
	srv := start(t)
	ctx := t.Context()
	_, stage, _ := client(t, "", srv.ConnectOptions()...)
	if err := streams.Provision(ctx, stage, streams.Options{}); err != nil {
		t.Fatalf("in-process stage provisions: %v", err)
	}
	cfgKV, err := stage.KeyValue(ctx, contract.BucketConfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfgKV.Put(ctx, "running", []byte("smtp_auth_password: hunter2")); err != nil {
		t.Fatal(err)
	}

	anon, anonJS, errs := client(t, srv.ClientURL())

	// Allowed: publish with a JetStream acknowledgement.
	ack, err := anonJS.Publish(ctx, contract.SubjectAlertsIn, []byte(`{"labels":{"alertname":"Direct"}}`))
	if err != nil {
		t.Fatalf("anonymous JetStream publish on %s: %v", contract.SubjectAlertsIn, err)
	}
	if ack.Stream != contract.StreamInput {
		t.Errorf("ack from stream %q, want %s", ack.Stream, contract.StreamInput)
	}
	in, err := stage.Stream(ctx, contract.StreamInput)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := in.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Fatalf("input stream holds %v messages (err %v), want the 1 published", info.State.Msgs, err)
	}

	// Refused: the JetStream API, hence KV and streams. (A refused request
	// gets no answer: each waits out a short timeout.)
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, time.Second)
		t.Cleanup(cancel)
		return c
	}
	if _, err := anonJS.KeyValue(short(), contract.BucketConfig); err == nil {
		t.Error("anonymous client opened the config bucket")
	}
	if _, err := anonJS.AccountInfo(short()); err == nil {
		t.Error("anonymous client called $JS.API.INFO")
	}
	if _, err := anonJS.Stream(short(), contract.StreamInput); err == nil {
		t.Error("anonymous client read stream info")
	}
	if _, err := anon.Request("$KV."+contract.BucketConfig+".running", nil, time.Second); err == nil {
		t.Error("anonymous client requested a KV subject")
	}

	// Refused: every other subject, publish and subscribe.
	if err := anon.Publish(contract.SubjectAlertsChanged, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	wantViolation(t, errs, contract.SubjectAlertsChanged)
	if _, err := anon.SubscribeSync("klaxon.>"); err != nil {
		t.Fatal(err)
	}
	wantViolation(t, errs, "klaxon.>")
	if err := anon.Publish("$JS.API.STREAM.DELETE."+contract.StreamInput, nil); err != nil {
		t.Fatal(err)
	}
	wantViolation(t, errs, "$JS.API.STREAM.DELETE")

	// Its _INBOX.> is its own account's: the stages' replies (here the
	// config, secrets and all) never reach it.
	inbox, err := anon.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := anon.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := cfgKV.Get(ctx, "running"); err != nil {
		t.Fatal(err)
	}
	if err := anon.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := inbox.Pending(); n != 0 {
		msg, _ := inbox.NextMsg(time.Second)
		t.Errorf("anonymous _INBOX.> received %d messages of the stages, e.g. %q", n, msg.Data)
	}
}

// An administrator given to the server reaches everything over TCP; a
// wrong password is refused, not demoted to anonymous.
func TestAdminOverTCP(t *testing.T) {
	srv := start(t)
	ctx := t.Context()
	_, stage, _ := client(t, "", srv.ConnectOptions()...)
	if err := streams.Provision(ctx, stage, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	_, adminJS, _ := client(t, srv.ClientURL(), nats.UserInfo("admin", "adm1n"))
	if _, err := adminJS.KeyValue(ctx, contract.BucketConfig); err != nil {
		t.Errorf("admin cannot open the config bucket: %v", err)
	}
	if _, err := adminJS.Stream(ctx, contract.StreamDLQ); err != nil {
		t.Errorf("admin cannot read the dead letters' stream: %v", err)
	}
	if nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("admin", "guess")); err == nil {
		nc.Close()
		t.Error("a wrong admin password was accepted")
	}
}

// Not guarded (tests), the server is open to every client.
func TestUnguardedIsOpen(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir(), ListenAddress: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	_, js, _ := client(t, srv.ClientURL())
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatalf("anonymous client of an unguarded server: %v", err)
	}
}

func TestAdminNeedsAPasswordAndItsOwnName(t *testing.T) {
	for _, o := range []natsembed.Options{
		{AdminUser: "admin"},
		{AdminUser: "anonymous", AdminPassword: "pw"},
		{AdminUser: "klaxon-internal", AdminPassword: "pw"},
	} {
		o.StoreDir, o.ListenAddress, o.Guarded = t.TempDir(), "127.0.0.1:-1", true
		if srv, err := natsembed.Start(o); err == nil {
			srv.Shutdown()
			t.Errorf("Start with administrator %q, password %q succeeded", o.AdminUser, o.AdminPassword)
		}
	}
}

// A server whose port is taken fails at once, naming the cause, instead of
// waiting out the ready timeout.
func TestPortTakenFailsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	start := time.Now()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir(), ListenAddress: ln.Addr().String()})
	if err == nil {
		srv.Shutdown()
		t.Fatal("Start on a taken port succeeded")
	}
	if !errors.Is(err, natsembed.ErrNotReady) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Start on a taken port: %v, want ErrNotReady naming the taken address", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Start on a taken port took %v", d)
	}
}
