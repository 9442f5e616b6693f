package main

import (
	"io"
	"slices"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

func TestStreamFlags(t *testing.T) {
	o, err := parseRun([]string{"dedup", "--nats.url", "nats://a:4222,nats://b:4222",
		"--nats.replicas", "3", "--nats.placement-tags", "region:eu, disk:ssd",
		"--nats.input-max-bytes", "64MiB", "--nats.history-max-bytes", "2GiB",
		"--nats.history-max-age", "24h", "--nats.state-max-bytes", "1048576"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := o.Streams
	if o.NATSURL != "nats://a:4222,nats://b:4222" || s.Replicas != 3 || !slices.Equal(s.PlacementTags, []string{"region:eu", "disk:ssd"}) ||
		s.InputMaxBytes != 64<<20 || s.HistoryMaxBytes != 2<<30 || s.History != 24*time.Hour || s.StateMaxBytes != 1<<20 {
		t.Fatalf("parsed %q %+v", o.NATSURL, s)
	}
	d, err := parseRun(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := streams.Options{Replicas: 1, InputMaxBytes: streams.DefaultInputMaxBytes, HistoryMaxBytes: streams.DefaultHistoryMaxBytes,
		StateMaxBytes: streams.DefaultStateMaxBytes, History: streams.DefaultHistory}
	if d.Streams.Replicas != want.Replicas || d.Streams.InputMaxBytes != want.InputMaxBytes || d.Streams.HistoryMaxBytes != want.HistoryMaxBytes ||
		d.Streams.StateMaxBytes != want.StateMaxBytes || d.Streams.History != want.History || d.Streams.PlacementTags != nil {
		t.Fatalf("defaults %+v, want %+v", d.Streams, want)
	}
	for _, bad := range []string{"0", "-1MiB", "12XB", "MiB", "99999999999GiB"} {
		if _, err := parseRun([]string{"--nats.state-max-bytes", bad}, io.Discard); err == nil {
			t.Errorf("--nats.state-max-bytes %s accepted", bad)
		}
	}
}
