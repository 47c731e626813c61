package kv

import "context"

// freshKey marks a context whose reads must not be answered from an
// in-memory cache that may lag behind another instance's write.
type freshKey struct{}

// Fresh returns ctx marked so that Get reads past every cache that can lag
// behind a write made on another instance (the mirror's in-memory cache,
// which Pub/Sub keeps coherent within milliseconds and at most a second):
// for a re-check that must see the latest write, such as a log-in's second
// read of its account. Badger's own read cache needs no bypass: every write
// that reaches this instance drops what it changed.
func Fresh(ctx context.Context) context.Context { return context.WithValue(ctx, freshKey{}, true) }

func isFresh(ctx context.Context) bool { return ctx.Value(freshKey{}) != nil }
