package session

import (
	"bytes"
	"sync"
)

// decodedCache remembers the decoded form of recently loaded session
// records, keyed by record id, so a request whose record is byte for byte
// the one decoded before skips the JSON decode. It is only a memo of a
// pure function: the store is still read on every request (it answers
// from its own read cache, which every write and delete drops), and an
// entry is used only when the bytes just read equal the bytes it was
// decoded from, so a renewal, a log-out or a revocation anywhere is seen
// exactly as without it. Bounded: past maxDecoded entries an arbitrary one
// is dropped per insertion.
type decodedCache struct {
	mu      sync.RWMutex
	entries map[string]decoded
}

type decoded struct {
	raw []byte
	rec Record
}

const maxDecoded = 16_384

func newDecodedCache() *decodedCache {
	return &decodedCache{entries: make(map[string]decoded)}
}

// record returns the decoded form of raw, the stored record of id.
func (c *decodedCache) record(id string, raw []byte) (Record, error) {
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.rec, nil
	}
	rec, err := decodeRecord(raw)
	if err != nil {
		return Record{}, err
	}
	c.mu.Lock()
	if _, ok := c.entries[id]; !ok && len(c.entries) >= maxDecoded {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[id] = decoded{raw: raw, rec: rec}
	c.mu.Unlock()
	return rec, nil
}

// forget drops id's entry (its record was deleted): not needed for
// correctness, it just gives the room back.
func (c *decodedCache) forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}
