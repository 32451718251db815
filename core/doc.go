// Package core holds the domain of usermgmt: entities and rules in leaf packages
// (user, credential, session, token, event, errs) and the use cases that drive
// them through ports (identity).
//
// Dependency contract: packages under core import only the standard library,
// other core packages and ports. TestCoreImports in this package enforces it
// without the linter; depguard enforces it in `make lint`.
package core
