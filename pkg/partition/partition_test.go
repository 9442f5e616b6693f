package partition_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/partition"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

// echo is a State that owes one message on out.<partition> per input, and
// one per timer it was asked to run.
type echo struct {
	p      int
	mu     sync.Mutex
	owed   []*nats.Msg
	timers partition.Timers
	fired  int
	// dueOnInput arms a timer due at once with every input (a group
	// without group_wait); commits counts the checkpoints.
	dueOnInput bool
	commits    int
}

func (e *echo) Handle(_ context.Context, msg jetstream.Msg) {
	m := nats.NewMsg("out." + strconv.Itoa(e.p))
	m.Data = msg.Data()
	e.owed = append(e.owed, m)
	if e.dueOnInput {
		e.timers.Add(time.Now(), "k")
	}
}

func (e *echo) Fire(_ context.Context, now time.Time) {
	for {
		if _, ok := e.timers.Due(now); !ok {
			return
		}
		e.mu.Lock()
		e.fired++
		e.mu.Unlock()
		m := nats.NewMsg("out." + strconv.Itoa(e.p))
		m.Data = []byte("timer")
		e.owed = append(e.owed, m)
	}
}

func (e *echo) Next() time.Time      { return e.timers.Next() }
func (e *echo) Owed() [][]*nats.Msg  { return [][]*nats.Msg{e.owed} }
func (e *echo) Committed()           { e.owed = nil; e.mu.Lock(); e.commits++; e.mu.Unlock() }
func (e *echo) firedCount() (n int)  { e.mu.Lock(); n = e.fired; e.mu.Unlock(); return n }
func (e *echo) commitCount() (n int) { e.mu.Lock(); n = e.commits; e.mu.Unlock(); return n }
func (e *echo) arm(at time.Time)     { e.timers.Add(at, "k") }

func streamCount(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().State.Msgs
}

// A partition's inputs are applied in order and acknowledged only after
// what they owe is stored; a timer runs when due; a partition started
// again (a new owner) gets what the old one took but did not acknowledge
// at once, not after the ack wait.
func TestPartitionStoresThenAcknowledges(t *testing.T) {
	_, js := natstest.Start(t)
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in.*"}, Retention: jetstream.WorkQueuePolicy}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OUT", Subjects: []string{"out.*"}}); err != nil {
		t.Fatal(err)
	}
	r := &partition.Runner{JS: js, Pub: bus.NewPublisher(js, nil), Input: partition.Input{
		Stream: "IN", WorkQueue: true,
		Subject:  func(p int) string { return "in." + strconv.Itoa(p) },
		Consumer: func(p int) string { return "in-" + strconv.Itoa(p) },
	}}
	for i := range 5 {
		if _, err := js.Publish(ctx, "in.3", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	st := &echo{p: 3}
	st.arm(time.Now().Add(time.Second))
	if err := r.Start(ctx, 3, st); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, "5 inputs stored and acknowledged, the timer run", func() bool {
		return streamCount(t, js, "OUT") == 6 && streamCount(t, js, "IN") == 0 && st.firedCount() == 1
	})
	// The inputs in their order, then the timer's.
	out, err := js.Stream(ctx, "OUT")
	if err != nil {
		t.Fatal(err)
	}
	for seq, want := range []string{"0", "1", "2", "3", "4", "timer"} {
		raw, err := out.GetMsg(ctx, uint64(seq+1))
		if err != nil {
			t.Fatal(err)
		}
		if string(raw.Data) != want {
			t.Fatalf("output %d is %q, want %q", seq+1, raw.Data, want)
		}
	}
	r.Stop([]int{3}, true)

	// An owner that dies holding unacknowledged input: its state never
	// commits, so nothing is acknowledged.
	stuck := &stuckState{}
	if err := r.Start(ctx, 3, stuck); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "in.3", []byte("late")); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, "the stuck owner took the input", func() bool { return stuck.took() })
	r.Stop([]int{3}, false)
	// The next owner gets it at once (the ack wait is 30 s).
	st2 := &echo{p: 3}
	start := time.Now()
	if err := r.Start(ctx, 3, st2); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, "the new owner stored the input the old one held", func() bool { return streamCount(t, js, "IN") == 0 })
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the held input came back after %v", d)
	}
	r.Stop([]int{3}, true)
}

// stuckState takes inputs and never gets them stored: its Owed stage
// names a subject no stream holds, so every checkpoint fails.
type stuckState struct {
	mu  sync.Mutex
	got bool
}

func (s *stuckState) Handle(context.Context, jetstream.Msg) { s.mu.Lock(); s.got = true; s.mu.Unlock() }
func (s *stuckState) Fire(context.Context, time.Time)       {}
func (s *stuckState) Next() time.Time                       { return time.Time{} }
func (s *stuckState) Owed() [][]*nats.Msg                   { return [][]*nats.Msg{{nats.NewMsg("nowhere.x")}} }
func (s *stuckState) Committed()                            {}
func (s *stuckState) took() bool                            { s.mu.Lock(); defer s.mu.Unlock(); return s.got }

// An input that makes a timer due at once (a group without group_wait) is
// stored with what the timer owes in one checkpoint, not two.
func TestDueTimerJoinsTheInputsCheckpoint(t *testing.T) {
	_, js := natstest.Start(t)
	ctx := t.Context()
	for _, cfg := range []jetstream.StreamConfig{
		{Name: "IN", Subjects: []string{"in.*"}, Retention: jetstream.WorkQueuePolicy},
		{Name: "OUT", Subjects: []string{"out.*"}},
	} {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	r := &partition.Runner{JS: js, Pub: bus.NewPublisher(js, nil), Input: partition.Input{
		Stream: "IN", WorkQueue: true,
		Subject:  func(p int) string { return "in." + strconv.Itoa(p) },
		Consumer: func(p int) string { return "in-" + strconv.Itoa(p) },
	}}
	st := &echo{p: 1, dueOnInput: true}
	if err := r.Start(ctx, 1, st); err != nil {
		t.Fatal(err)
	}
	defer r.Stop([]int{1}, true)
	if _, err := js.Publish(ctx, "in.1", []byte("a")); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, "the input and its timer stored", func() bool {
		return streamCount(t, js, "OUT") == 2 && streamCount(t, js, "IN") == 0
	})
	if n := st.commitCount(); n != 1 {
		t.Errorf("%d checkpoints for an input and the timer it made due, want 1", n)
	}
}

// unacked is a State whose every checkpoint waits for acknowledgements that
// never come: its Owed stage goes to a subject a plain subscriber takes and
// never answers.
type unacked struct {
	p     int
	mu    sync.Mutex
	owing bool
}

func (s *unacked) Handle(context.Context, jetstream.Msg) {}
func (s *unacked) Fire(context.Context, time.Time)       {}
func (s *unacked) Next() time.Time                       { return time.Time{} }
func (s *unacked) Owed() [][]*nats.Msg {
	s.mu.Lock()
	s.owing = true
	s.mu.Unlock()
	return [][]*nats.Msg{{nats.NewMsg("silent." + strconv.Itoa(s.p))}}
}
func (s *unacked) Committed() {}
func (s *unacked) storing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owing
}

// A partition handed back while NATS does not acknowledge its checkpoint
// stops within its last checkpoint's bound: the checkpoint in progress is
// abandoned (its inputs stay unacknowledged), and the last one waits no
// longer than the bound, not the publisher's timeout.
func TestHandBackIsBoundedWhenNothingIsAcknowledged(t *testing.T) {
	nc, js := natstest.Start(t)
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in.*"}, Retention: jetstream.WorkQueuePolicy}); err != nil {
		t.Fatal(err)
	}
	silent, err := nc.SubscribeSync("silent.>") // takes the publishes, answers none
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = silent.Unsubscribe() }()
	r := &partition.Runner{JS: js, Pub: bus.NewPublisher(js, nil), LastCheckpoint: 300 * time.Millisecond, Input: partition.Input{
		Stream: "IN", WorkQueue: true,
		Subject:  func(p int) string { return "in." + strconv.Itoa(p) },
		Consumer: func(p int) string { return "in-" + strconv.Itoa(p) },
	}}
	st := &unacked{p: 2}
	if err := r.Start(ctx, 2, st); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "in.2", []byte("x")); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, "a checkpoint waiting for its acknowledgement", st.storing)
	start := time.Now()
	r.Stop([]int{2}, true)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("handing back took %v with a 300ms bound on the last checkpoint (the publisher waits 10s)", d)
	}
	if n := streamCount(t, js, "IN"); n != 1 {
		t.Fatalf("%d inputs left, want the 1 never stored: it waits for the next owner", n)
	}
}
