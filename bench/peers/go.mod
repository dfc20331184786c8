module github.com/mmapkit/mmapkit/bench/peers

go 1.26.0

require (
	github.com/edsrzf/mmap-go v1.2.0
	github.com/mmapkit/mmapkit v0.0.0
	golang.org/x/exp v0.0.0-20261113113407-e3970619a1a4
)

require golang.org/x/sys v0.50.0 // indirect

replace github.com/mmapkit/mmapkit => ../..
