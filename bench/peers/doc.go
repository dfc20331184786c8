// Package peers measures mmapkit against the Go libraries a user would pick
// instead, side by side in one run. It is a module of its own so that
// mmapkit's users never download the peers. See README.md for how to run it.
package peers
