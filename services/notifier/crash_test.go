package notifier

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/alert"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

// TestCrashMidSendRepeatsOnlyThatSend: a notifier dies (its NATS connection
// cut, nothing acked or nacked) while its receiver holds one send; another
// replica takes the message over within a few seconds (AckWait 1s with
// in-progress acks, not the whole send timeout), sends that one
// notification again, and counts the repeat. The flushes the dead replica
// had finished are not sent again.
func TestCrashMidSendRepeatsOnlyThatSend(t *testing.T) {
	const groups, stuck = 4, 2
	r := newReceiver(t)
	inSend := make(chan struct{})
	hang := make(chan struct{})
	var once sync.Once
	r.onCall = func(i int) {
		calls := r.Calls()
		if calls[i].GroupLabels["alertname"] == groupName(stuck) && i == firstCallOf(calls, groupName(stuck)) {
			once.Do(func() { close(inSend) })
			<-hang
		}
	}

	url := natstest.Server(t)
	_, js := natstest.Connect(t, url)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	yml := fmt.Sprintf("route: {receiver: team}\nreceivers: [{name: team, webhook_configs: [{url: %q}]}]\n", r.url())
	tune := func(o *Options) {
		o.Subscriber.AckWait = time.Second
		o.Subscriber.Concurrency = 8
		o.SendTimeout = time.Minute // the takeover must not wait for it
	}
	crashConn, crashJS := natstest.Connect(t, url)
	first := startOn(t, crashJS, yml, tune)
	t.Cleanup(func() { close(hang) }) // before first's cleanup: its send returns

	for g := range groups {
		publishGroup(t, first, g)
	}
	<-inSend
	first.waitCounter(t, groups-1, "klaxon_messages_processed_total", "stage", "notifier", "outcome", "ack")

	first.crashed.Store(true)
	crashConn.Close()
	crashed := time.Now()
	second := startOn(t, js, yml, tune)
	waitCalls(t, r, groups+1)
	took := time.Since(crashed)
	second.waitCounter(t, 1, "klaxon_notifications_repeated_total")
	second.waitCounter(t, 1, "klaxon_messages_processed_total", "stage", "notifier", "outcome", "ack")
	if took > 5*time.Second {
		t.Errorf("the dead replica's send was taken over after %v, want within a few seconds", took)
	}
	per := map[string]int{}
	for _, c := range r.Calls() {
		per[c.GroupLabels["alertname"]]++
	}
	for g := range groups {
		want := 1
		if g == stuck {
			want = 2
		}
		if per[groupName(g)] != want {
			t.Errorf("group %s notified %d times, want %d (calls per group %v)", groupName(g), per[groupName(g)], want, per)
		}
	}
	t.Logf("takeover after %v; calls per group %v", took.Round(time.Millisecond), per)
}

func groupName(g int) string { return fmt.Sprintf("G%d", g) }

func firstCallOf(calls []call, group string) int {
	for i, c := range calls {
		if c.GroupLabels["alertname"] == group {
			return i
		}
	}
	return -1
}

// publishGroup publishes the first flush of group g (one firing alert).
func publishGroup(t *testing.T, s *running, g int) {
	t.Helper()
	a := firingAlert("a")
	a.Labels["alertname"] = model.LabelValue(groupName(g))
	body, err := json.Marshal(contract.Notification{
		Version:        contract.Version,
		Integration:    contract.Integration{Receiver: "team", Type: "webhook"},
		GroupID:        groupName(g),
		GroupKey:       fmt.Sprintf(`{}:{alertname=%q}`, groupName(g)),
		GroupLabels:    model.LabelSet{"alertname": model.LabelValue(groupName(g))},
		Alerts:         []alert.Alert{a},
		RepeatInterval: model.Duration(repeatInterval),
		FlushSeq:       1,
		FlushedAt:      t0,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.publishRaw(t, body)
}
