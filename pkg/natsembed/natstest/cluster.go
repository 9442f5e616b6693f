package natstest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster starts n embedded nats-servers with JetStream that form one
// cluster on loopback (server i is named "n<i>" and tagged "node:n<i>"),
// waits until JetStream answers on every one of them, and returns their
// client URLs. The servers stop when the test ends.
func Cluster(tb testing.TB, n int) []string {
	tb.Helper()
	routePorts := make([]int, n)
	routes := make([]string, n)
	for i := range n {
		routePorts[i] = freePort(tb)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", routePorts[i])
	}
	urls := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("n%d", i)
		srv := ServerWith(tb, &server.Options{
			ServerName: name,
			JetStream:  true,
			Tags:       []string{"node:" + name},
			Cluster: server.ClusterOpts{
				Name: "klaxon-test", Host: "127.0.0.1", Port: routePorts[i],
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
		})
		urls[i] = srv.ClientURL()
	}
	ctx, cancel := context.WithTimeout(tb.Context(), 60*time.Second)
	defer cancel()
	for _, url := range urls {
		waitJetStream(ctx, tb, url)
	}
	return urls
}

// waitJetStream polls url until its JetStream answers (the cluster has
// elected its meta leader).
func waitJetStream(ctx context.Context, tb testing.TB, url string) {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatalf("connect to %s: %v", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("JetStream of the cluster at %s not ready: %v", url, err)
		case <-tick.C:
		}
	}
}

// freePort is a loopback TCP port free at the time of the call.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
