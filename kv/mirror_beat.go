package kv

import (
	"context"
	"strconv"
	"time"
)

// The heartbeat tells the cache whether its link is in doubt (mirrorCache):
// every beatEvery, while the mirror is up, the instance publishes the send
// time (its cache clock) on a channel of its own,
//
//	<prefix>mirror:beat:<instance id>
//
// to which its Pub/Sub connection is subscribed besides mirror:changes.
// Redis delivers a subscriber's messages in the order it ran the
// PUBLISHes, across channels, so a beat heard back proves that every change
// published before it was sent has been heard too. The previous release
// never subscribes to these channels: the change messages are unchanged.

// beatChannel is this instance's heartbeat channel.
func (m *Mirror) beatChannel() string { return m.prefix + "mirror:beat:" + m.beatID }

// beatSuspect is how long beats may go unheard, while they are sent, before
// the Pub/Sub connection is taken for dead and opened again (which drops
// the whole cache: messages may have been missed).
const beatSuspect = 2 * time.Second

// beatLoop publishes the heartbeats.
func (m *Mirror) beatLoop() {
	t := time.NewTicker(beatEvery)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		if !m.up() {
			continue
		}
		sent := m.cache.clock()
		ctx, cancel := context.WithTimeout(context.Background(), beatWindow)
		// A failed beat is not a failed request: it leaves the link in
		// doubt (no beat heard back) without turning the mirror down.
		if m.rdb.Publish(ctx, m.beatChannel(), strconv.FormatInt(sent, 10)).Err() == nil {
			m.cache.sent.Store(sent)
		}
		cancel()
	}
}

// heardBeat handles a message on the heartbeat channel.
func (m *Mirror) heardBeat(payload string) {
	if sent, err := strconv.ParseInt(payload, 10, 64); err == nil {
		m.cache.beatHeard(sent)
	}
}

// pubsubSuspect reports whether beats published more than beatSuspect
// after the last one heard back have not come: the Pub/Sub connection may
// be hung (no error, no message).
func (m *Mirror) pubsubSuspect() bool {
	sent, heard := m.cache.sent.Load(), m.cache.heard.Load()
	return m.up() && sent != 0 && sent-max(heard, m.subscribedAt.Load()) > int64(beatSuspect)
}
