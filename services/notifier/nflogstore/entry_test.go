package nflogstore

import (
	"regexp"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/nflog"
)

func TestNewEntry(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := &contract.Notification{
		GroupKey:    `{}:{alertname="A"}`,
		Integration: contract.Integration{Receiver: "team", Type: "webhook", Index: 1},
		FlushSeq:    7,
		FlushedAt:   t0,
	}
	e := NewEntry(n, nflog.NewSet("c", "a", "b"), nflog.NewSet())
	if e.GroupKey != n.GroupKey || e.Integration != n.Integration || e.FlushSeq != 7 || !e.Timestamp.Equal(t0) {
		t.Fatalf("entry %+v", e)
	}
	if got := e.Firing; len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Fatalf("firing not sorted: %v", got)
	}
	if e.Resolved == nil || len(e.Resolved) != 0 {
		t.Fatalf("resolved: %#v (want empty, not nil, for a stable stored form)", e.Resolved)
	}
}

func TestCovers(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := &Entry{FlushSeq: 5, State: nflog.State{Timestamp: t0}}
	tests := []struct {
		name string
		e    *Entry
		seq  uint64
		at   time.Time
		want bool
	}{
		{"no entry", nil, 1, t0, false},
		{"redelivery of the same flush", e, 5, t0, true},
		{"older flush", e, 4, t0.Add(-time.Minute), true},
		{"next flush", e, 6, t0.Add(time.Minute), false},
		{"group recreated: lower seq but later flush", e, 1, t0.Add(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.Covers(tt.seq, tt.at); got != tt.want {
				t.Fatalf("Covers(%d, %v) = %v, want %v", tt.seq, tt.at, got, tt.want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	valid := regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)
	in := contract.Integration{Receiver: "team ops/ü", Type: "webhook", Index: 0}
	gk := `{}/{team="db"}:{alertname="Foo bar*"}`
	k := Key(gk, in)
	if !valid.MatchString(k) || len(k) != 32 {
		t.Fatalf("key %q is not a valid 32-char KV key", k)
	}
	if Key(gk, in) != k {
		t.Fatal("key is not deterministic")
	}
	others := []struct {
		gk string
		in contract.Integration
	}{
		{gk + "x", in},
		{gk, contract.Integration{Receiver: in.Receiver, Type: "slack", Index: 0}},
		{gk, contract.Integration{Receiver: in.Receiver, Type: "webhook", Index: 1}},
		{gk, contract.Integration{Receiver: "other", Type: "webhook", Index: 0}},
		// Length prefixes keep part boundaries apart.
		{"ab", contract.Integration{Receiver: "c", Type: "webhook"}},
		{"a", contract.Integration{Receiver: "bc", Type: "webhook"}},
	}
	seen := map[string]bool{k: true}
	for _, o := range others {
		ok := Key(o.gk, o.in)
		if seen[ok] {
			t.Errorf("key collision for %q %+v", o.gk, o.in)
		}
		seen[ok] = true
	}
}

// TestClaim: a claim on no entry holds no notification (nothing to decide
// on, nothing covered); a claim keeps what the entry recorded, and
// releasing it gives that entry back.
func TestClaim(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := &contract.Notification{GroupKey: "g", Integration: contract.Integration{Receiver: "team", Type: "webhook"}, FlushSeq: 1, FlushedAt: t0}
	c := Claim{StreamSeq: 9, FlushSeq: 1, Until: t0.Add(time.Minute)}

	fresh := (*Entry)(nil).Claimed(n, c)
	if fresh.Claim == nil || *fresh.Claim != c || fresh.GroupKey != "g" {
		t.Fatalf("claimed %+v", fresh)
	}
	if fresh.StateOf() != nil || fresh.Covers(1, t0) {
		t.Fatalf("a claim-only entry decides as no entry: state %+v, covers %v", fresh.StateOf(), fresh.Covers(1, t0))
	}

	e := NewEntry(n, nflog.NewSet("a"), nflog.NewSet())
	claimed := e.Claimed(&contract.Notification{GroupKey: "g", FlushSeq: 2, FlushedAt: t0.Add(time.Minute)}, c)
	if claimed.FlushSeq != 1 || claimed.StateOf() == nil || !claimed.Covers(1, t0) {
		t.Fatalf("claim lost the entry: %+v", claimed)
	}
	if e.Claim != nil {
		t.Fatal("Claimed changed its receiver")
	}
	if r := claimed.Released(n); r.Claim != nil || r.FlushSeq != 1 {
		t.Fatalf("released %+v", r)
	}
}
