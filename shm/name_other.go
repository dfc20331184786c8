//go:build !windows

package shm

// osNameProblem: a name that passes ValidateName's own checks is a valid
// file name here.
func osNameProblem(string) string { return "" }
