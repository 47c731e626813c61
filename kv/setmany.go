package kv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Entry is one write of SetMany: what Set takes.
type Entry struct {
	Key string
	Val []byte
	TTL time.Duration
}

// SetMany stores every entry as Set would, in as few transactions as Badger
// allows (a new one only when one grows too big), so a bulk write costs a
// few fsyncs instead of one per key: what a start-up migration needs. It is
// not atomic: after an error some entries may be written. On a nil error
// every entry is on disk.
func (b *Badger) SetMany(ctx context.Context, entries []Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.space.allow(false); err != nil {
		return err
	}
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	defer b.cache.drop(keys...)
	txn := b.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		ent := b.entry(e.Key, b.stamp(e.Val, e.TTL), e.TTL)
		err := txn.SetEntry(ent)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return fmt.Errorf("kv: set many: %w", err)
			}
			txn = b.db.NewTransaction(true)
			err = txn.SetEntry(ent)
		}
		if err != nil {
			return fmt.Errorf("kv: set many: %w", err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("kv: set many: %w", err)
	}
	return nil
}
