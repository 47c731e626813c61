//go:build !plant_renewrevive

package kv

// plantRenewRevive is off (see plant_on_renewrevive.go): the compiler drops
// every branch it guards.
const plantRenewRevive = false
