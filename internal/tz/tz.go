// Package tz is the product's default time zone, Asia/Tokyo (SPEC.md: the
// default of a campaign's schedule and of an alumnus's timezone column),
// and the one way to load a person's zone with the fallback to it. It is a
// leaf: it imports only the standard library, so every package may use it.
package tz

import (
	"sync"
	"time"
	_ "time/tzdata" // every IANA zone is known, even on a machine without zoneinfo
)

// Default is the IANA name of the zone used when none is given or the one
// given is unknown.
const Default = "Asia/Tokyo"

// tokyo is Default, loaded once. With time/tzdata embedded the load cannot
// fail.
var tokyo = func() *time.Location {
	l, err := time.LoadLocation(Default)
	if err != nil {
		panic("tz: " + Default + " is not in the embedded zone database: " + err.Error())
	}
	return l
}()

// zones caches the zones Load has found, by name.
var zones sync.Map

// Tokyo returns the Default zone, Asia/Tokyo.
func Tokyo() *time.Location { return tokyo }

// Load returns the zone of IANA name (as time.LoadLocation reads it), or
// Asia/Tokyo when name is empty or unknown. Loaded zones are cached, so it
// is cheap to call per recipient; it is safe for concurrent use.
func Load(name string) *time.Location {
	if name == "" {
		return tokyo
	}
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return tokyo
	}
	zones.Store(name, l)
	return l
}

// Name returns name when it is a zone Load knows, Default otherwise: the
// name of the zone Load(name) returns.
func Name(name string) string {
	if name == "" {
		return Default
	}
	if _, err := time.LoadLocation(name); err != nil {
		return Default
	}
	return name
}
