//go:build race

package shm_test

// raceEnabled: the race detector slows atomics down about 50x, so the
// load-heavy tests do fewer loads.
const raceEnabled = true
