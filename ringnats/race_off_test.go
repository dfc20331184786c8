//go:build !race

package ringnats

const raceEnabled = false
