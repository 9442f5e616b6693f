package main

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
	"github.com/klaxon-alerts/klaxon/pkg/testfile"
)

// klaxon dlq authenticates with the --nats.* flags: with the password file
// it lists, without it is refused, and the password never shows.
func TestDLQCommandWithCredentials(t *testing.T) {
	srv := natstest.ServerWith(t, &server.Options{JetStream: true, Username: "operator", Password: "0per4tor-pw"})
	_, js := natstest.Connect(t, srv.ClientURL(), nats.UserInfo("operator", "0per4tor-pw"))
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	storeDeadLetter(t, js, contract.StageDedup, contract.SubjectAlertsIn, "decode alerts: invalid JSON", `[{`)
	pw := testfile.Write(t, "operator.pw", "0per4tor-pw\n")

	out, err := runDLQ(t, "list", "--nats.url", srv.ClientURL(), "--nats.user", "operator", "--nats.password-file", pw, "--timeout", "5s")
	if err != nil || !strings.Contains(out, "decode alerts: invalid JSON") {
		t.Fatalf("list with credentials: %v\n%s", err, out)
	}
	out, err = runDLQ(t, "list", "--nats.url", srv.ClientURL(), "--timeout", "5s")
	if err == nil {
		t.Fatalf("list without credentials succeeded:\n%s", out)
	}
	out, err = runDLQ(t, "list", "--nats.url", srv.ClientURL(), "--nats.user", "operator", "--nats.password", "wrong-pw", "--timeout", "5s")
	if err == nil || strings.Contains(out+err.Error(), "wrong-pw") {
		t.Fatalf("list with a wrong password: %v\n%s", err, out)
	}
}
