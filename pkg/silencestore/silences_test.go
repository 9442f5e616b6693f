package silencestore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/model"

	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/silence"
	"github.com/klaxon-alerts/klaxon/pkg/silencestore"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

// clock is a settable clock shared by the replicas of a test.
type clock struct{ ns atomic.Int64 }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var eq, re = silence.Equal, silence.Regexp

func sil(start, end time.Duration, ms ...silence.Matcher) silence.Silence {
	return silence.Silence{ID: "s1", Matchers: ms, StartsAt: t0.Add(start), EndsAt: t0.Add(end), CreatedBy: "me", Comment: "c"}
}

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func (c *clock) now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time)  { c.ns.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) {
	c.ns.Add(int64(d))
}

// replica starts a Silences over js, run until the test ends.
func replica(t *testing.T, js jetstream.JetStream, clk *clock, ids func() string) *silencestore.Silences {
	t.Helper()
	s, err := silencestore.New(silencestore.Options{JS: js, Now: clk.now, Retention: 24 * time.Hour, NewID: ids})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			t.Errorf("silences run: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if err := s.Synced(sctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func setup(t *testing.T) (jetstream.JetStream, *clock, func() string) {
	t.Helper()
	_, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	ids := func() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1)) }
	return js, newClock(t0), ids
}

func TestSetGetUpdateReplaceExpire(t *testing.T) {
	js, clk, ids := setup(t)
	s := replica(t, js, clk, ids)
	ctx := t.Context()

	// Create: no id; a start in the past is moved to now.
	in := sil(-time.Hour, 2*time.Hour, eq("alertname", "A"))
	in.ID = ""
	id, err := s.Set(ctx, in, "alice")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !got.StartsAt.Equal(t0) || !got.UpdatedAt.Equal(t0) || got.CreatedBy != "me" || got.State(clk.now()) != silence.StateActive {
		t.Fatalf("created %+v", got)
	}

	// Update in place: extend the end of the active silence.
	clk.add(time.Minute)
	upd := got
	upd.EndsAt = upd.EndsAt.Add(time.Hour)
	upd.Comment = "longer"
	id2, err := s.Set(ctx, upd, "bob")
	if err != nil || id2 != id {
		t.Fatalf("in-place update: id %q err %v, want %q", id2, err, id)
	}
	if got, _ = s.Get(ctx, id); got.Comment != "longer" || !got.UpdatedAt.Equal(clk.now()) {
		t.Fatalf("after update %+v", got)
	}

	// Replace: changing the matchers expires the old silence and creates a
	// new one.
	clk.add(time.Minute)
	repl := got
	repl.Matchers = append(repl.Matchers, eq("env", "prod"))
	id3, err := s.Set(ctx, repl, "carol")
	if err != nil || id3 == id {
		t.Fatalf("replace: id %q err %v", id3, err)
	}
	old, _ := s.Get(ctx, id)
	if !old.EndsAt.Equal(clk.now()) {
		t.Fatalf("replaced silence not expired now: %+v", old)
	}
	clk.add(time.Second)
	if old.State(clk.now()) != silence.StateExpired {
		t.Fatal("replaced silence not expired")
	}
	nw, _ := s.Get(ctx, id3)
	if len(nw.Matchers) != 2 || nw.State(clk.now()) != silence.StateActive {
		t.Fatalf("replacement %+v", nw)
	}

	// Expire; expiring again is a no-op; unknown ids are not found.
	if err := s.Expire(ctx, id3, "dave"); err != nil {
		t.Fatal(err)
	}
	if err := s.Expire(ctx, id3, "dave"); err != nil {
		t.Fatalf("expire twice: %v", err)
	}
	if err := s.Expire(ctx, "nope", "x"); !errors.Is(err, silence.ErrNotFound) {
		t.Fatalf("expire unknown = %v", err)
	}
	unknown := in
	for _, id := range []string{"nope", "a.b.>", "a b", ".x"} { // the last three cannot be KV keys
		unknown.ID = id
		if _, err := s.Set(ctx, unknown, "x"); !errors.Is(err, silence.ErrNotFound) {
			t.Fatalf("set unknown id %q = %v, want not found", id, err)
		}
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, silence.ErrNotFound) {
		t.Fatalf("get unknown = %v", err)
	}

	// An update of an expired silence creates a new one.
	clk.add(time.Second)
	again := nw
	again.EndsAt = clk.now().Add(time.Hour)
	id4, err := s.Set(ctx, again, "erin")
	if err != nil || id4 == id3 {
		t.Fatalf("update of expired: id %q err %v", id4, err)
	}

	// The history is the audit trail.
	h, err := s.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, r := range h {
		trail = append(trail, r.Change.Action+" by "+r.Change.By)
	}
	if fmt.Sprint(trail) != "[create by alice update by bob expire by carol]" || h[2].Change.ReplacedBy != id3 {
		t.Fatalf("history of %s = %v (%+v)", id, trail, h[len(h)-1].Change)
	}
	h3, _ := s.History(ctx, id3)
	if h3[0].Change.Replaces != id || h3[len(h3)-1].Change.Action != silencestore.ActionExpire {
		t.Fatalf("history of %s = %+v", id3, h3)
	}

	// Invalid silences are refused and nothing is stored.
	bad := sil(0, time.Hour, eq("a", ""))
	bad.ID = ""
	if _, err := s.Set(ctx, bad, "x"); !errors.Is(err, silence.ErrInvalid) {
		t.Fatalf("invalid silence = %v", err)
	}
	list, _ := s.List(ctx)
	if len(list) != 3 {
		t.Fatalf("%d silences stored, want 3", len(list))
	}
}

// A pending silence whose start is moved into the past is replaced; moved
// later it is updated in place.
func TestPendingUpdateRules(t *testing.T) {
	js, clk, ids := setup(t)
	s := replica(t, js, clk, ids)
	ctx := t.Context()
	p := sil(time.Hour, 2*time.Hour, eq("a", "b"))
	p.ID = ""
	id, err := s.Set(ctx, p, "x")
	if err != nil {
		t.Fatal(err)
	}
	p.ID = id
	p.StartsAt = p.StartsAt.Add(10 * time.Minute)
	if got, err := s.Set(ctx, p, "x"); err != nil || got != id {
		t.Fatalf("later start: %q %v", got, err)
	}
	p.StartsAt = clk.now().Add(-time.Minute)
	got, err := s.Set(ctx, p, "x")
	if err != nil || got == id {
		t.Fatalf("start in the past: %q %v", got, err)
	}
	if n, _ := s.Get(ctx, got); !n.StartsAt.Equal(clk.now()) {
		t.Fatalf("replacement starts %v, want now", n.StartsAt)
	}
	old, _ := s.Get(ctx, id)
	if !old.StartsAt.Equal(clk.now()) || !old.EndsAt.Equal(clk.now()) {
		t.Fatalf("expired pending silence %v..%v, want both now", old.StartsAt, old.EndsAt)
	}
}

// Two replicas see the same silences: what one writes, the other mutes by.
func TestReplicasSeeTheSameSilences(t *testing.T) {
	js, clk, ids := setup(t)
	a := replica(t, js, clk, ids)
	b := replica(t, js, clk, ids)
	ctx := t.Context()
	in := sil(0, time.Hour, eq("alertname", "A"))
	in.ID = ""
	id, err := a.Set(ctx, in, "x")
	if err != nil {
		t.Fatal(err)
	}
	ls := model.LabelSet{"alertname": "A", "instance": "i"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := b.Mutes(ctx, ls, clk.now())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 && got[0] == id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica b never saw silence %s", id)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	if err := b.Expire(ctx, id, "y"); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Second)
	for {
		got, _ := a.Mutes(ctx, ls, clk.now())
		if len(got) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica a still mutes by an expired silence")
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	// A fresh replica starts from the bucket.
	c := replica(t, js, clk, ids)
	if got, err := c.Get(ctx, id); err != nil || got.State(clk.now()) != silence.StateExpired {
		t.Fatalf("fresh replica: %+v %v", got, err)
	}
}

// Mutes lists only active silences, and only those whose matchers all match.
func TestMutes(t *testing.T) {
	js, clk, ids := setup(t)
	s := replica(t, js, clk, ids)
	ctx := t.Context()
	mk := func(start, end time.Duration, ms ...silence.Matcher) string {
		x := sil(start, end, ms...)
		x.ID = ""
		id, err := s.Set(ctx, x, "x")
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	active := mk(0, time.Hour, eq("alertname", "A"))
	mk(time.Hour, 2*time.Hour, eq("alertname", "A")) // pending
	mk(0, time.Hour, eq("alertname", "A"), eq("env", "prod"))
	got, err := s.Mutes(ctx, model.LabelSet{"alertname": "A", "env": "dev"}, clk.now())
	if err != nil || len(got) != 1 || got[0] != active {
		t.Fatalf("Mutes = %v %v, want [%s]", got, err, active)
	}
}

// Expired silences are removed once the retention has passed since their
// end, and not before.
func TestGCAfterRetention(t *testing.T) {
	js, clk, ids := setup(t)
	s := replica(t, js, clk, ids)
	ctx := t.Context()
	x := sil(0, time.Hour, eq("a", "b"))
	x.ID = ""
	id, err := s.Set(ctx, x, "x")
	if err != nil {
		t.Fatal(err)
	}
	clk.add(time.Hour + 24*time.Hour - time.Second) // retention is 24h in replica()
	if n, err := s.GC(ctx); err != nil || n != 0 {
		t.Fatalf("GC before retention = %d %v", n, err)
	}
	clk.add(time.Second)
	if n, err := s.GC(ctx); err != nil || n != 1 {
		t.Fatalf("GC at retention = %d %v", n, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := s.Get(ctx, id); errors.Is(err, silence.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("removed silence still in the local copy")
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	if _, err := s.Set(ctx, silence.Silence{ID: id, Matchers: x.Matchers, StartsAt: clk.now(), EndsAt: clk.now().Add(time.Hour)}, "x"); !errors.Is(err, silence.ErrNotFound) {
		t.Fatalf("set of a removed silence = %v, want not found", err)
	}
}
