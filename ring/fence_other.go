//go:build !amd64

package ring

// fence orders the loads of a copied record before the following load of the
// writer's limit: on weakly ordered CPUs (arm64) a load-acquire does not keep
// earlier loads from moving after it, but an atomic read-modify-write with
// acquire-release semantics (LDADDAL) does.
func (r *Reader) fence() { r.fenceWord.Add(1) }
