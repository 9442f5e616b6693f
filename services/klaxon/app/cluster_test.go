package app_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-alerts/klaxon/pkg/contract"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/streams"
	"github.com/klaxon-alerts/klaxon/pkg/testfile"
	"github.com/klaxon-alerts/klaxon/services/klaxon/app"
	"github.com/klaxon-alerts/klaxon/test/harness"
)

// Against a three-node cluster given as seed URLs (the first of them
// dead), the stages connect, provision every stream and bucket with three
// replicas, and carry an alert through.
func TestStagesOnClusterWithSeedList(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	urls := natstest.Cluster(t, 3)
	seeds := strings.Join(append([]string{"nats://" + freeAddr(t)}, urls...), ",")
	addr := run(t, app.Options{Stages: contract.Stages, NATSURL: seeds,
		ConfigFile: testfile.Write(t, "klaxon.yml", minimalConfig),
		Streams:    streams.Options{Replicas: 3}})
	_, js := natstest.Connect(t, urls[2])
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, name := range []string{contract.StreamInput, contract.StreamNotify, "KV_" + contract.BucketAlerts} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if info := s.CachedInfo(); info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Errorf("%s: %d replicas, cluster %+v; want 3", name, info.Config.Replicas, info.Cluster)
		}
	}
	postAlert(t, addr, "OnCluster")
	harness.Eventually(t, 20*time.Second, "the alert in GET /api/v2/alerts", func() bool {
		resp, err := http.Get("http://" + addr + "/api/v2/alerts")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), "OnCluster")
	})
}

// The one-process Klaxon's embedded NATS is one server: more than one
// replica is refused at start, with the reason.
func TestOneProcessRefusesReplicas(t *testing.T) {
	err := app.Run(t.Context(), app.Options{Streams: streams.Options{Replicas: 3},
		ConfigFile: testfile.Write(t, "klaxon.yml", minimalConfig), ListenAddress: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "--nats.replicas") {
		t.Fatalf("Run = %v, want the replicas refused", err)
	}
}
