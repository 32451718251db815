// Package crypto implements the core's cryptographic ports: password hashing
// with Argon2id (ports.PasswordHasher; bcrypt hashes of imported accounts
// are verified once and rehashed) and access tokens as Ed25519-signed
// JWTs (ports.TokenSigner, ports.TokenVerifier) over a rotating KeyRing
// whose seeds are sealed at rest with the SecretBox, plus a CachingVerifier
// for the token-check hot path.
//
// Requirements covered here: PW-03, PW-04, PW-07, PW-08 and LG-01 (hashing);
// SE-01, SE-02, SE-10 and SE-12 (tokens and keys), following RFC 8725 and
// RFC 9068.
// Test names carry these IDs.
//
// Secrets never reach logs: types holding a private key redact themselves
// under fmt and log/slog.
package crypto
