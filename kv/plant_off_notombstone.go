//go:build !plant_notombstone

package kv

// plantNoTombstone is off (see plant_on_notombstone.go): the compiler drops
// every branch it guards.
const plantNoTombstone = false
