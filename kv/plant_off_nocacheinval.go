//go:build !plant_nocacheinval

package kv

// plantNoCacheInval is off (see plant_on_nocacheinval.go): the compiler
// drops every branch it guards.
const plantNoCacheInval = false
