// Package bench holds the benchmark behind `mmapkit bench`: the data file, the
// random offsets, the cache states, the read methods and the child-process
// runner that gives every method its own memory and page-fault figures.
//
// Every method runs in a fresh child process (the CLI re-executes itself, the
// tests re-execute the test binary), so the RssAnon/RssFile peaks and the
// fault counts in a result belong to that method alone. A method reads the
// same block-aligned offsets as every other method and folds the bytes it read
// into a checksum; equal checksums prove the methods read the same bytes.
package bench
