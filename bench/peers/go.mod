module github.com/mmapkit/mmapkit/bench/peers

go 1.26.0

require (
	github.com/edsrzf/mmap-go v1.2.0
	github.com/mmapkit/mmapkit v0.0.0
	github.com/tidwall/wal v1.2.1
	golang.org/x/exp v0.0.0-20261113113407-e3970619a1a4
)

require (
	github.com/tidwall/gjson v1.10.2 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.2.0 // indirect
	github.com/tidwall/tinylru v1.1.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/mmapkit/mmapkit => ../..
