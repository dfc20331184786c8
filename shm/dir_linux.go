package shm

// On Linux, POSIX shared memory (shm_open) is a file in the tmpfs at /dev/shm:
// using the directory directly gives the same objects Python's
// multiprocessing.shared_memory and C's shm_open see, without cgo.
func defaultDir() string { return "/dev/shm" }
