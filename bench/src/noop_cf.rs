// The benchmark's stand-in for cf: does nothing and exits 0, so what is
// measured is the wrapper's own cost. Built statically.
fn main() {}
