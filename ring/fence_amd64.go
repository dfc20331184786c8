package ring

// fence orders the loads of a copied record before the following load of the
// writer's limit. amd64 never reorders loads with older loads, and the copy
// is a call the compiler cannot move the atomic load above, so nothing is
// needed here.
func (r *Reader) fence() {}
