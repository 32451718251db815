// Package core holds the domain of usermgmt.
//
// Leaf packages hold entities and their rules, with no I/O:
//
//	user        the user aggregate: profile, status, roles, lifecycle;
//	            the administration query and its order
//	role        permissions, built-in and custom roles, and the rank
//	            and grant rules that keep administration from escalating
//	credential  the password policy and the stored hash type
//	session     sign-in sessions and their rotating refresh tokens
//	token       access-token claims and signing keys
//	mfa         second factors, backup codes, sign-in challenges
//	activity    what other services report about a user
//	event       the published events and their envelope
//	audit       the tamper-evident audit trail: entries, hash chain, verifier
//	errs        the one error vocabulary, mapped to HTTP in one place
//
// Use-case packages drive the leaves through ports:
//
//	identity    registration, sign-in (password and second factor),
//	            refresh, sessions, recovery, verification, MFA management;
//	            a type per group of use cases, over shared parts (Ledger,
//	            Issuer, Throttle, ...) and at most ten ports each
//	inbox       consumed events from other services, applied once each
//	relay       the transactional outbox, published at least once
//	admin       staff use cases: account search, lifecycle (edit,
//	            activate, deactivate, delete, restore, roles), custom
//	            roles and bulk actions, each authorized in the core;
//	            the erasure of deleted accounts past their retention
//	auditlog    recording, verifying, searching, exporting and pruning
//	            the audit trail; Recorder audits every outboxed event
//	transfer    accounts in bulk: the import from another system (ids,
//	            creation times and password hashes kept, batched,
//	            idempotent) and the streaming export
//
// Dependency contract: packages under core import only the standard library,
// other core packages and ports. TestCoreImports in this package enforces it
// without the linter; depguard enforces it in `make lint`.
package core
