package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

// streamFlags registers the flags that replicate, place and bound the
// streams and buckets (used by the process that provisions them).
func streamFlags(fs *flag.FlagSet, o *streams.Options) {
	o.Replicas = 1
	o.InputMaxBytes = streams.DefaultInputMaxBytes
	o.HistoryMaxBytes = streams.DefaultHistoryMaxBytes
	o.StateMaxBytes = streams.DefaultStateMaxBytes
	o.History = streams.DefaultHistory
	fs.IntVar(&o.Replicas, "nats.replicas", 1, "Replicas of every stream and bucket: 1 for one NATS server, 3 for a cluster. Raising it on a cluster moves the existing data.")
	fs.Func("nats.placement-tags", "Comma-separated server tags every stream and bucket is placed on (NATS server_tags), e.g. region:eu.", func(s string) error {
		o.PlacementTags = nil
		for _, t := range strings.Split(s, ",") {
			if t = strings.TrimSpace(t); t != "" {
				o.PlacementTags = append(o.PlacementTags, t)
			}
		}
		return nil
	})
	fs.Var((*byteSize)(&o.InputMaxBytes), "nats.input-max-bytes", "Bound of the input stream; when full, ingest answers 429 (e.g. 256MiB).")
	fs.Var((*byteSize)(&o.HistoryMaxBytes), "nats.history-max-bytes", "Bound of each history stream (alert changes, notifications, suppressions, dead letters); past it the oldest go.")
	fs.DurationVar(&o.History, "nats.history-max-age", streams.DefaultHistory, "How long the history streams keep alert changes, notifications and suppressions.")
	fs.Var((*byteSize)(&o.StateMaxBytes), "nats.state-max-bytes", "Bound of each KV bucket (alerts, groups, notification log, silences, config); when full, writes fail and are retried.")
}

// byteSize is a flag of bytes: a number with an optional KiB, MiB or GiB
// (or B) unit.
type byteSize int64

func (b *byteSize) String() string {
	if b == nil {
		return "0"
	}
	n := int64(*b)
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Set(s string) error {
	num, mult := s, int64(1)
	for _, u := range []struct {
		name string
		size int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.name) {
			num, mult = strings.TrimSuffix(s, u.name), u.size
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q: want a positive size such as 512MiB or 2GiB", s)
	}
	*b = byteSize(n * mult)
	return nil
}
