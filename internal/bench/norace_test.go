//go:build !race

package bench

const raceMemFactor = 1
