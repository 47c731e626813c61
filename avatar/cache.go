package avatar

import (
	"bytes"
	"sync"
)

// decodedCache remembers the decoded form of recently read avatar records,
// keyed by username, so a read whose record is byte for byte the one
// decoded before skips the JSON decode. It is only a memo of decode: the
// store is still read every time (from its own read cache, which every
// write drops), and an entry is used only when the bytes just read equal
// the bytes it was decoded from, so a change anywhere is seen exactly as
// without it. Bounded: past maxDecoded entries an arbitrary one is dropped
// per insertion.
type decodedCache struct {
	mu      sync.RWMutex
	entries map[string]decodedChoice
}

type decodedChoice struct {
	raw []byte
	c   Choice
}

const maxDecoded = 16_384

func newDecodedCache() *decodedCache {
	return &decodedCache{entries: make(map[string]decodedChoice)}
}

// choice returns decode(username, raw), from the memo when raw is unchanged.
func (d *decodedCache) choice(username string, raw []byte) (Choice, error) {
	d.mu.RLock()
	e, ok := d.entries[username]
	d.mu.RUnlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.c, nil
	}
	c, err := decode(username, raw)
	if err != nil {
		return Choice{}, err
	}
	d.mu.Lock()
	if _, ok := d.entries[username]; !ok && len(d.entries) >= maxDecoded {
		for k := range d.entries {
			delete(d.entries, k)
			break
		}
	}
	d.entries[username] = decodedChoice{raw: raw, c: c}
	d.mu.Unlock()
	return c, nil
}
