// Package partition runs the partitions a replica owns (pkg/lease): for
// each, one goroutine that reads the partition's input in order, runs its
// timers, and writes checkpoints. The stage supplies the state (State); this
// package is the transport around it.
//
// The input stream is the log. A State changes in memory and remembers what
// it owes: events to publish and KV values to write. When no input is
// waiting (or maxPending inputs have gathered) or a timer has run, a
// checkpoint publishes what is owed, stage by stage, waits for JetStream to
// store each, and only then acknowledges the inputs it covers. A crash
// before that leaves them unacknowledged; the next owner loads the KV copy
// and takes them again, so a State must give the same result, with the same
// message ids, for an input it applies twice.
package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/klaxon-alerts/klaxon/pkg/bus"
)

// State is one partition's state in memory. Only the partition's goroutine
// calls it.
type State interface {
	// Handle applies one input message.
	Handle(ctx context.Context, msg jetstream.Msg)
	// Fire runs the timers due at now.
	Fire(ctx context.Context, now time.Time)
	// Next is when the earliest timer is due; zero when none is.
	Next() time.Time
	// Owed is what the changes since the last checkpoint owe, in stages:
	// each stage is stored before the next is published (e.g. the
	// notifications of a flush before the group's state that says it was
	// sent).
	Owed() [][]*nats.Msg
	// Committed says that everything Owed returned is stored.
	Committed()
}

// A Deferrer is a State that defers some of what it owes (writes whose old
// value stays right for a while); a partition handed back owes it all in
// its last checkpoint, so that the next owner starts from the latest.
type Deferrer interface {
	OweDeferred()
}

// A StageObserver is a State told when each stage of what it owed is
// stored, before the next is published.
type StageObserver interface {
	StageStored(stage int)
}

// Input says where a stage's partitions come from.
type Input struct {
	Stream string
	// Subject and Consumer name partition p's subject and durable consumer.
	Subject  func(p int) string
	Consumer func(p int) string
	// A new owner recreates the partition's consumer (once the server has
	// torn the old one down, bus.DeleteConsumer), so that what a gone owner
	// had taken but not acknowledged comes again at once, not after the
	// ack wait. On a WorkQueue stream what is acknowledged is gone, so
	// the new consumer reads all that is left; on another it starts after
	// the old consumer's acknowledgement floor (from the start when there
	// was none).
	WorkQueue bool
}

// Runner starts partitions.
type Runner struct {
	JS    jetstream.JetStream
	Pub   *bus.Publisher
	Input Input
	Log   *slog.Logger
	// LastCheckpoint bounds the checkpoint of a partition handed back
	// (default DefaultLastCheckpoint); what it cannot store by then stays
	// unacknowledged for the next owner.
	LastCheckpoint time.Duration

	mu      sync.Mutex
	running map[int]*running
}

type running struct {
	stop chan struct{} // closed: hand back after a last checkpoint
	// abandon ends a checkpoint in progress when the partition is handed
	// back: the last checkpoint owes the same and more, and is bounded.
	abandon context.CancelFunc
	cancel  context.CancelFunc
	done    chan struct{}
}

// DefaultLastCheckpoint bounds the checkpoint of a partition handed back.
const DefaultLastCheckpoint = 5 * time.Second

// maxPending bounds the inputs of one checkpoint.
const maxPending = 256

// Start runs partition p with state, consuming its input from where the
// previous owner's acknowledgements ended.
func (r *Runner) Start(ctx context.Context, p int, state State) error {
	cons, err := r.consumer(ctx, p)
	if err != nil {
		return fmt.Errorf("partition %d: %w", p, err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	in := make(chan jetstream.Msg, maxPending)
	sub, err := cons.Consume(func(msg jetstream.Msg) {
		select {
		case in <- msg:
		case <-runCtx.Done():
		}
	}, jetstream.PullMaxMessages(maxPending), jetstream.PullExpiry(bus.PullExpiry))
	if err != nil {
		cancel()
		return fmt.Errorf("partition %d: consume: %w", p, err)
	}
	storeCtx, abandon := context.WithCancel(runCtx)
	rn := &running{stop: make(chan struct{}), abandon: abandon, cancel: cancel, done: make(chan struct{})}
	w := &worker{r: r, p: p, state: state, in: in, sub: sub}
	go func() {
		defer close(rn.done)
		w.run(runCtx, storeCtx, rn.stop)
	}()
	r.mu.Lock()
	if r.running == nil {
		r.running = map[int]*running{}
	}
	r.running[p] = rn
	r.mu.Unlock()
	return nil
}

// StartAll starts partitions ps, several at once (each costs consumer
// round trips), with the states state gives; on an error it stops those it
// started.
func (r *Runner) StartAll(ctx context.Context, ps []int, state func(p int) State) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, p := range ps {
		g.Go(func() error { return r.Start(gctx, p, state(p)) })
	}
	if err := g.Wait(); err != nil {
		r.Stop(ps, false)
		return err
	}
	return nil
}

// consumer (re)creates partition p's durable consumer; see Input.WorkQueue.
func (r *Runner) consumer(ctx context.Context, p int) (jetstream.Consumer, error) {
	name := r.Input.Consumer(p)
	cfg := jetstream.ConsumerConfig{
		Durable: name, FilterSubject: r.Input.Subject(p),
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxAckPending: 4 * maxPending,
		Description: "a partition, consumed by its owner only",
	}
	old, err := r.JS.Consumer(ctx, r.Input.Stream, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	case err != nil:
		return nil, err
	default:
		if !r.Input.WorkQueue {
			info, err := old.Info(ctx)
			if err != nil {
				return nil, err
			}
			cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
			cfg.OptStartSeq = info.AckFloor.Stream + 1
		}
		if err := bus.DeleteConsumer(ctx, r.JS, r.Input.Stream, name); err != nil {
			return nil, err
		}
	}
	return r.JS.CreateOrUpdateConsumer(ctx, r.Input.Stream, cfg)
}

// Stop stops partitions: handed back (graceful), each writes a last
// checkpoint; lost, each stops at once.
func (r *Runner) Stop(ps []int, graceful bool) {
	r.mu.Lock()
	var rs []*running
	for _, p := range ps {
		if rn, ok := r.running[p]; ok {
			rs = append(rs, rn)
			delete(r.running, p)
		}
	}
	r.mu.Unlock()
	for _, rn := range rs {
		if graceful {
			close(rn.stop)
			rn.abandon()
		} else {
			rn.cancel()
		}
	}
	for _, rn := range rs {
		<-rn.done
		rn.cancel()
	}
}

func (r *Runner) logger() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// worker is the goroutine of one partition.
type worker struct {
	r       *Runner
	p       int
	state   State
	in      chan jetstream.Msg
	sub     jetstream.ConsumeContext
	pending []jetstream.Msg // inputs to acknowledge at the next checkpoint
}

// run takes inputs and timers until ctx ends (the partition is lost) or
// stop is closed (handed back); its checkpoints store with storeCtx, which
// ends when stop is closed.
func (w *worker) run(ctx, storeCtx context.Context, stop <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	arm := func() {
		if next := w.state.Next(); !next.IsZero() {
			timer.Reset(max(time.Until(next), 0))
		} else {
			timer.Stop()
		}
	}
	arm()
	for {
		select {
		case <-ctx.Done():
			w.sub.Stop()
			return
		case <-stop:
			// Handed back: a last checkpoint, bounded; what it cannot
			// store stays unacknowledged for the next owner.
			w.sub.Stop()
			if d, ok := w.state.(Deferrer); ok {
				d.OweDeferred()
			}
			bound := w.r.LastCheckpoint
			if bound <= 0 {
				bound = DefaultLastCheckpoint
			}
			last, cancel := context.WithTimeout(ctx, bound)
			if !w.checkpoint(last) {
				w.r.logger().Warn("last checkpoint not stored within its bound; the next owner takes its inputs again",
					"partition", w.p, "bound", bound, "inputs", len(w.pending))
			}
			cancel()
			return
		case msg := <-w.in:
			// Ticks already due go out before these inputs, as they came
			// first; then what is waiting is taken in, the ticks it made
			// due run (a flush with no group_wait), and one checkpoint
			// writes it all.
			w.fireDue(ctx)
			w.handle(ctx, msg)
			for len(w.pending) < maxPending && len(w.in) > 0 {
				w.handle(ctx, <-w.in)
			}
			w.fireDue(ctx)
			w.checkpoint(storeCtx)
		case <-timer.C:
			w.state.Fire(ctx, time.Now())
			w.checkpoint(storeCtx)
		}
		arm()
	}
}

// fireDue runs the timers that are due now, if any.
func (w *worker) fireDue(ctx context.Context) {
	now := time.Now()
	if next := w.state.Next(); !next.IsZero() && !next.After(now) {
		w.state.Fire(ctx, now)
	}
}

func (w *worker) handle(ctx context.Context, msg jetstream.Msg) {
	w.pending = append(w.pending, msg)
	w.state.Handle(ctx, msg)
}

// checkpoint stores what is owed, retrying (NATS unreachable) until it
// succeeds or ctx ends (the partition is lost, or handed back: its last
// checkpoint tries again, bounded); the inputs wait meanwhile. It reports
// whether everything owed was stored.
func (w *worker) checkpoint(ctx context.Context) bool {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		err := w.store(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		w.r.logger().Warn("checkpoint failed; retrying", "partition", w.p, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
	}
}

func (w *worker) store(ctx context.Context) error {
	obs, _ := w.state.(StageObserver)
	for i, stage := range w.state.Owed() {
		if len(stage) == 0 {
			continue
		}
		if err := w.r.Pub.PublishMsgs(ctx, stage...); err != nil {
			return err
		}
		if obs != nil {
			obs.StageStored(i)
		}
	}
	w.state.Committed()
	for _, in := range w.pending {
		_ = in.Ack() // a lost ack redelivers the input: applied again, harmlessly
	}
	w.pending = w.pending[:0]
	return nil
}
