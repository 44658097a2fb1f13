package server

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSlowSubscriberIsDisconnected: a subscriber that never reads lets
// messages pile up on the server; past pubsubBufferLimit it is cut off,
// as Redis's client-output-buffer-limit pubsub does, and nobody else
// notices: publishers keep being answered, and the channel's subscriber
// count drops to zero.
func TestSlowSubscriberIsDisconnected(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	sc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	sc.Write([]byte(respPayload([][]string{{"SUBSCRIBE", "firehose"}})))
	c := client(t, s.Addr().String(), 2)
	deadline := time.Now().Add(10 * time.Second)
	for c.PubSubNumSub(ctx, "firehose").Val()["firehose"] != 1 { // the subscription is another connection's: poll it
		if time.Now().After(deadline) {
			t.Fatal("the subscription never registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	msg := strings.Repeat("x", 1<<20)
	published := 0
	for c.PubSubNumSub(ctx, "firehose").Val()["firehose"] == 1 {
		if published > 4*pubsubBufferLimit>>20 {
			t.Fatalf("still subscribed after %d MiB of messages it never read", published)
		}
		if err := c.Publish(ctx, "firehose", msg).Err(); err != nil {
			t.Fatal(err)
		}
		published++
	}
	if published < pubsubBufferLimit>>20 {
		t.Fatalf("cut off after only %d MiB", published)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// The subscriber's connection is closed: reading drains what was sent,
	// then ends.
	sc.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 1<<20)
	for {
		if _, err := sc.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the slow subscriber's connection stayed open")
			}
			break
		}
	}
	t.Logf("cut off after %d MiB published", published)
}

// TestBlockingPopOnADetachedConnection: a RESP3 client that tracks keys or
// subscribed has left redcon's loop; a BLPOP that has to wait there
// flushes its earlier replies through the detached connection (it once
// crashed the node) and is served when a push arrives.
func TestBlockingPopOnADetachedConnection(t *testing.T) {
	s := startServer(t, nil)
	for _, setup := range [][]string{{"CLIENT", "TRACKING", "ON"}, {"SUBSCRIBE", "ch"}} {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		c.Write([]byte(respPayload([][]string{{"HELLO", "3"}, setup, {"BLPOP", "q", "0.1"}, {"BLPOP", "q", "0"}})))
		r := bufio.NewReader(c)
		for range 3 { // HELLO, the setup, the timed-out BLPOP
			if _, err := respSignature(r); err != nil {
				t.Fatalf("%v: %v", setup, err)
			}
		}
		if err := client(t, s.Addr().String(), 2).LPush(context.Background(), "q", "v").Err(); err != nil {
			t.Fatal(err)
		}
		for {
			sig, err := respSignature(r)
			if err != nil {
				t.Fatalf("%v: the blocked pop was never served: %v", setup, err)
			}
			if sig != ">" && !strings.HasPrefix(sig, ">") { // skip invalidation pushes
				break
			}
		}
	}
}
