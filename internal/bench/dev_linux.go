package bench

import (
	"errors"
	"fmt"
	"os"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// deviceOf returns "major:minor" of the device holding path.
func deviceOf(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	major, minor, ok := sys.DeviceNumber(fi)
	if !ok {
		return "", errors.ErrUnsupported
	}
	return fmt.Sprintf("%d:%d", major, minor), nil
}
