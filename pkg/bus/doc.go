// Package bus is the transport between Klaxon's stages: a watermill
// message.Publisher and message.Subscriber written directly over
// nats.go/jetstream, and a watermill Router wired the Klaxon way (panic
// recovery, correlation id, dead letters, metrics).
//
// # Guarantees
//
//   - Publish waits for the stream's PubAck of every message before it
//     returns, so a stage that acks its input after Publish returned never
//     loses an event (at-least-once between stages). Every message carries a
//     Nats-Msg-Id (MetaMsgID, default the message UUID); a duplicate inside
//     the stream's duplicate window is dropped by the server and counts as a
//     successful publish.
//   - Publish errors are classified: ErrUnavailable (NATS unreachable, no
//     stream answering, ack timeout) and ErrStreamFull (DiscardNew limits hit)
//     are retryable back-pressure; a message the stream can never take (too
//     large, invalid header) is fault.Final.
//   - A Subscriber creates or binds a durable pull consumer (explicit ack,
//     deliver all) and never deletes it: every replica of a stage shares it
//     (a work queue), and after Close a new Subscriber resumes where the old
//     one stopped. Nacked, unacked and not-yet-delivered messages are
//     redelivered; acked ones are not, unless the ack itself was lost (it is
//     not confirmed, see below).
//   - One Consume loop per subscription (the client's pull with heartbeats,
//     a small batch requested ahead) feeds SubscriberConfig.Concurrency
//     workers. Each worker hands one message to the consumer, waits for Ack
//     or Nack and answers JetStream: Ack is sent without waiting for the
//     server's confirmation (handlers must be idempotent: a lost ack
//     redelivers), Nack is NakWithDelay with SubscriberConfig.Backoff or the
//     handler's MetaRetryAfter. With one worker, messages are handled in
//     stream order.
//   - Stopping (Close, or Subscribe's context cancelled) drains: messages
//     already handed out get DrainTimeout to be acked or nacked; messages
//     the client holds or still receives are nacked once the subscription
//     has closed, so that they go promptly to another subscription instead
//     of bouncing back to this one until MaxDeliver is spent.
//
// # Why not watermill-nats
//
// watermill-nats v2.1.3 was the obvious candidate; two of its behaviours
// break Klaxon's guarantees:
//
//   - pkg/nats subscribes through the legacy JetStream API without binding to
//     a consumer it did not create, so Unsubscribe on Close deletes the
//     durable consumer: a restarted stage starts a fresh consumer and
//     re-receives every message still in the stream, acked or not.
//   - pkg/jetstream's shipped subscriber initializers and SubscribeInitialize
//     use the topic as the stream name, which JetStream rejects for dotted
//     topics (klaxon.alerts.in, ...); its publisher reaches a dotted subject
//     only while the configured stream name equals the topic (a valid name
//     redirects publishes to that name). Its EphemeralConsumer deletes the
//     consumer when a subscription ends.
//
// This package is small enough to own instead. The decision is backed by
// tests run against real embedded NATS: TestPubSubConformance runs
// watermill's own pubsub/tests suite with dotted topics;
// TestRestartDoesNotRedeliverAcked closes a Subscriber after acking part of
// a stream and checks that a new one receives exactly the rest;
// TestRestartRedeliversUnacked covers nacked and never-acked messages.
// watermillnats_test.go runs watermill-nats v2.1.3 itself: the
// TestWatermillNATSRestart* tests replay one restart with its pkg/nats
// (consumer deleted, acked messages redelivered; a consumer Klaxon creates
// survives, but needs nats.ManualAck: TestWatermillNATSCloseAcksHeldMessage)
// and with bus; the TestWatermillNATSJetStream* tests show its default
// publisher reaching a dotted subject and its subscriber rejecting one.
//
// # Metadata
//
// On publish, every metadata entry becomes a NATS header, except the
// delivery-only keys (MetaSubject, MetaDeliveries, MetaMaxDeliver,
// MetaStreamSeq, MetaPublished, MetaRetryAfter), so a handler that forwards
// its input's metadata does not forge delivery facts. On delivery, every
// header becomes metadata and the delivery-only keys are set from JetStream.
package bus
