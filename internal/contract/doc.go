// Package contract holds the tests that guard peerhub's protobuf contract
// itself: that read-only methods stay marked as such (so Connect serves them
// on HTTP GET and clients may retry them) and that request messages keep
// their validation rules. It has no code of its own.
package contract
