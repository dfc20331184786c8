//go:build linux || darwin

package ring

import (
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// cpuTime is this process's user+system CPU time: on a shared machine it
// measures the work done, where wall time also measures the neighbours.
func cpuTime() time.Duration {
	ru, err := sys.GetRusage()
	if err != nil {
		return 0
	}
	return ru.UserTime + ru.SystemTime
}
