package postgres

// ProbeCap exposes probeCap to the tests, which need more matches than it
// to reach the walk in id order.
const ProbeCap = probeCap
