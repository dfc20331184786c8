//go:build !unix

package shm

const noFollow = 0
