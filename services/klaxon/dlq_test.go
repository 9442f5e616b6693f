package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

func storeDeadLetter(t *testing.T, js jetstream.JetStream, stage, subject, reason, payload string) uint64 {
	t.Helper()
	body, err := json.Marshal(contract.DeadLetter{
		Version: contract.Version, Stage: stage, Subject: subject, Reason: reason,
		Headers: map[string]string{"correlation_id": "c1"}, Payload: []byte(payload),
		FailedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(t.Context(), contract.DLQSubject(stage), body)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

func runDLQ(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := dlqMain(args, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

func TestDLQCommand(t *testing.T) {
	url := natstest.Server(t)
	_, js := natstest.Connect(t, url)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	slack := storeDeadLetter(t, js, contract.StageNotifier, contract.NotifySubject("slack"),
		"notify team/slack[0]: slack webhook: unexpected status code 503:\nservice unavailable", `{"version":1}`)
	email := storeDeadLetter(t, js, contract.StageNotifier, contract.NotifySubject("email"), "notify team/email[0]: smtp RCPT TO: 550", `{"version":1}`)
	dedup := storeDeadLetter(t, js, contract.StageDedup, contract.SubjectAlertsIn, "decode alerts: invalid JSON", `[{`)

	out, err := runDLQ(t, "list", "--nats.url", url)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "SEQ") ||
		!strings.Contains(lines[1], fmt.Sprintf("%d", slack)) || !strings.Contains(lines[1], "klaxon.notify.slack") ||
		!strings.Contains(lines[1], "2026-01-02T03:04:05Z") || !strings.Contains(lines[1], "unexpected status code 503: service unavailable") {
		t.Fatalf("list:\n%s", out)
	}

	out, err = runDLQ(t, "list", "--stage", "dedup", "--nats.url", url)
	if err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, "klaxon.alerts.in") {
		t.Fatalf("list --stage dedup: %v\n%s", err, out)
	}

	out, err = runDLQ(t, "list", "--id", fmt.Sprint(email), "--nats.url", url)
	if err != nil || !strings.Contains(out, "Reason:     notify team/email[0]: smtp RCPT TO: 550") ||
		!strings.Contains(out, "correlation_id:") || !strings.Contains(out, "Payload:\n{\"version\":1}") {
		t.Fatalf("list --id: %v\n%s", err, out)
	}
	if _, err := runDLQ(t, "list", "--id", fmt.Sprint(email), "--stage", "dedup", "--nats.url", url); err == nil {
		t.Error("--id of another stage accepted")
	}

	out, err = runDLQ(t, "redrive", "--id", fmt.Sprint(slack), "--nats.url", url)
	if err != nil || !strings.Contains(out, fmt.Sprintf("redriven %d (notifier) to klaxon.notify.slack", slack)) {
		t.Fatalf("redrive --id: %v\n%s", err, out)
	}
	stream, err := js.Stream(t.Context(), contract.StreamNotify)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.GetLastMsgForSubject(t.Context(), contract.NotifySubject("slack")); err != nil {
		t.Fatalf("not republished: %v", err)
	}
	if _, err := runDLQ(t, "redrive", "--id", fmt.Sprint(slack), "--nats.url", url); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("second redrive: %v", err)
	}

	out, err = runDLQ(t, "redrive", "--all", "--stage", "notifier", "--nats.url", url)
	if err != nil || !strings.Contains(out, "1 of 1 dead letters redriven") {
		t.Fatalf("redrive --all --stage: %v\n%s", err, out)
	}
	out, err = runDLQ(t, "list", "--nats.url", url)
	if err != nil || !strings.Contains(out, fmt.Sprintf("%d", dedup)) || strings.Count(out, "\n") != 2 {
		t.Fatalf("left:\n%s", out)
	}

	for _, bad := range [][]string{
		{}, {"show"}, {"list", "extra"}, {"redrive"}, {"redrive", "--id", "1", "--all"}, {"list", "--all"},
	} {
		if _, err := runDLQ(t, append(bad, "--nats.url", url)...); err == nil {
			t.Errorf("dlq %v: no error", bad)
		}
	}
}
