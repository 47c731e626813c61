//go:build !plant_noversion

package kv

// plantNoVersion is off (see plant_on_noversion.go): the compiler drops
// every branch it guards.
const plantNoVersion = false
