//go:build race

package ringnats

// raceEnabled: the race detector slows the multi-process tests several
// times over; their default sizes shrink under it.
const raceEnabled = true
