package dpop

// RefClaims is refClaims for the external tests: the encoding/json
// definition of a proof's claims.
type RefClaims = refClaims
