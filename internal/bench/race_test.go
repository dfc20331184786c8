//go:build race

package bench

// The race detector's shadow memory multiplies a child's RssAnon.
const raceMemFactor = 4
