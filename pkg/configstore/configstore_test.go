package configstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-alerts/klaxon/pkg/configstore"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
)

const cfgA = "route:\n  receiver: a\nreceivers:\n  - name: a\n"
const cfgB = "route:\n  receiver: b\nreceivers:\n  - name: b\n"

// testKey is the config key of the test processes.
var testKey = []byte("0123456789abcdef0123456789abcdef")

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

type proc struct {
	store *configstore.Store
	reg   *prometheus.Registry
}

// open starts one "process" on file and runs its store until the test ends.
func open(t *testing.T, js jetstream.JetStream, file string) proc {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := configstore.Open(t.Context(), configstore.Options{JS: js, File: file, Key: testKey, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return proc{store: s, reg: reg}
}

func receiver(s *configstore.Store) string { return s.Current().Route.Receiver }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// Two processes run one revision; a reload in one switches both; an invalid
// file is rejected with its line and both keep the running config.
func TestOneRunningConfigForAllProcesses(t *testing.T) {
	_, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "klaxon.yml")
	write(t, file, cfgA)
	p1, p2 := open(t, js, file), open(t, js, file)
	if receiver(p1.store) != "a" || receiver(p2.store) != "a" {
		t.Fatal("processes do not run the file's config")
	}

	write(t, file, cfgB)
	if err := p1.store.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both processes on the new revision", func() bool {
		return receiver(p1.store) == "b" && receiver(p2.store) == "b"
	})

	write(t, file, "route:\n  receiver: b\n  bogus: 1\nreceivers:\n  - name: b\n")
	err := p2.store.Reload(t.Context())
	if !errors.Is(err, configstore.ErrInvalid) || !strings.Contains(err.Error(), "klaxon.yml:3") {
		t.Fatalf("invalid reload: %v, want ErrInvalid naming line 3", err)
	}
	if receiver(p1.store) != "b" || receiver(p2.store) != "b" {
		t.Fatal("invalid file replaced the running config")
	}
	if v := gauge(t, p2.reg, "klaxon_config_last_reload_successful"); v != 0 {
		t.Fatalf("last_reload_successful = %v after a failed reload", v)
	}
}

// A process started with a different file publishes it: the newest start
// wins, as restarting Alertmanager with an edited file does.
func TestStartWithChangedFilePublishesIt(t *testing.T) {
	_, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fa, fb := filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yml")
	write(t, fa, cfgA)
	write(t, fb, cfgB)
	p1 := open(t, js, fa)
	open(t, js, fb)
	waitFor(t, "first process follows", func() bool { return receiver(p1.store) == "b" })
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A process without a file follows: started before anything exists, it
// waits for the publisher's config, switches with its reloads, and cannot
// reload itself.
func TestFollowerWaitsForThePublishedConfig(t *testing.T) {
	_, js := natstest.Start(t)
	followed := make(chan *configstore.Store, 1)
	errc := make(chan error, 1)
	go func() {
		s, err := configstore.Open(t.Context(), configstore.Options{JS: js, Key: testKey})
		if err != nil {
			errc <- err
			return
		}
		followed <- s
	}()

	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "klaxon.yml")
	write(t, file, cfgA)
	publisher := open(t, js, file)

	var follower *configstore.Store
	select {
	case follower = <-followed:
	case err := <-errc:
		t.Fatalf("follower: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("follower did not find the published config within 10s")
	}
	if receiver(follower) != "a" {
		t.Fatalf("follower runs %q, want a", receiver(follower))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = follower.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	write(t, file, cfgB)
	if err := publisher.store.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the follower on the new revision", func() bool { return receiver(follower) == "b" })
	if err := follower.Reload(t.Context()); !errors.Is(err, configstore.ErrFollower) {
		t.Fatalf("follower Reload = %v, want ErrFollower", err)
	}
}
