//go:build !linux

package bench

import "errors"

func deviceOf(string) (string, error) { return "", errors.ErrUnsupported }
