package configstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/klaxon-alerts/klaxon/pkg/configstore"
	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
	"github.com/klaxon-alerts/klaxon/pkg/testfile"
)

const secret = "hunter2-smtp-password"

const cfgSecret = `global:
  smtp_smarthost: mail.example.org:587
  smtp_from: klaxon@example.org
  smtp_auth_username: klaxon
  smtp_auth_password: ` + secret + `
route:
  receiver: mail
receivers:
  - name: mail
    email_configs: [{to: oncall@example.org}]
`

func provisioned(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := natstest.Start(t)
	if err := streams.Provision(t.Context(), js, streams.Options{}); err != nil {
		t.Fatal(err)
	}
	return js
}

// history returns every stored revision of the running config, raw.
func history(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	kv, err := js.KeyValue(t.Context(), contract.BucketConfig)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := kv.History(t.Context(), "running")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, string(e.Value()))
	}
	return out
}

// The bucket holds the config masked and sealed, never a secret in clear;
// a process with neither the file nor the key cannot run it, one with the
// key can, and one with the same file needs no key.
func TestSecretsAreNeverStoredInClear(t *testing.T) {
	js := provisioned(t)
	file := filepath.Join(t.TempDir(), "klaxon.yml")
	write(t, file, cfgSecret)
	open(t, js, file) // publishes with testKey

	revs := history(t, js)
	if len(revs) != 1 {
		t.Fatalf("%d revisions, want 1", len(revs))
	}
	if strings.Contains(revs[0], secret) || strings.Contains(revs[0], "hunter2") {
		t.Fatalf("the stored revision holds the secret in clear: %s", revs[0])
	}
	var r configstore.Revision
	if err := json.Unmarshal([]byte(revs[0]), &r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Masked, "<secret>") || len(r.Sealed) == 0 {
		t.Errorf("revision: masked %q, sealed %d bytes; want a masked secret and a sealed file", r.Masked, len(r.Sealed))
	}

	follow := func(o configstore.Options) (*configstore.Store, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		o.JS, o.Follow = js, true
		return configstore.Open(ctx, o)
	}
	if _, err := follow(configstore.Options{}); !errors.Is(err, configstore.ErrSealed) {
		t.Errorf("follower without file or key: %v, want ErrSealed", err)
	}
	if _, err := follow(configstore.Options{Key: []byte("another key, also 32 bytes long!")}); !errors.Is(err, configstore.ErrSealed) {
		t.Errorf("follower with another key: %v, want ErrSealed", err)
	}
	s, err := follow(configstore.Options{Key: testKey})
	if err != nil {
		t.Fatalf("follower with the key: %v", err)
	}
	if got := string(s.Current().Global.SMTPAuthPassword); got != secret {
		t.Errorf("follower with the key runs password %q", got)
	}
	copyFile := filepath.Join(t.TempDir(), "same.yml")
	write(t, copyFile, cfgSecret)
	if _, err := follow(configstore.Options{File: copyFile}); err != nil {
		t.Errorf("follower with the same file and no key: %v", err)
	}
}

// A revision stored in clear by an earlier Klaxon is replaced, and its
// history purged, by the next publisher.
func TestClearTextRevisionIsPurged(t *testing.T) {
	js := provisioned(t)
	kv, err := js.KeyValue(t.Context(), contract.BucketConfig)
	if err != nil {
		t.Fatal(err)
	}
	legacy, _ := json.Marshal(map[string]string{"file": "old.yml", "yaml": cfgSecret, "hash": "old"})
	for range 2 {
		if _, err := kv.Put(t.Context(), "running", legacy); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "klaxon.yml")
	write(t, file, cfgSecret)
	p := open(t, js, file)
	if p.store.Current().Route.Receiver != "mail" {
		t.Fatal("publisher does not run its file")
	}
	for _, rev := range history(t, js) {
		if strings.Contains(rev, secret) {
			t.Fatalf("a clear-text revision survived: %s", rev)
		}
	}
}

func TestLoadKey(t *testing.T) {
	short := testfile.Write(t, "short", "too-short-secret\n")
	if _, err := configstore.LoadKey(short); err == nil || strings.Contains(err.Error(), "too-short-secret") {
		t.Errorf("LoadKey(short) = %v; want an error that does not show the key", err)
	}
	k, err := configstore.LoadKey(testfile.Write(t, "good", "  c2VjcmV0LWtleS1mb3ItdGhlLWNvbmZpZy1yZXZpc2lvbnM=\n"))
	if err != nil || len(k) != 32 {
		t.Fatalf("LoadKey(good) = %d bytes, %v", len(k), err)
	}
}
