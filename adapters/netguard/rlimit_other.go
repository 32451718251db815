//go:build !unix

package netguard

// DescriptorLimit reports that this system has no per-process descriptor
// limit to read; New then uses a fixed default cap.
func DescriptorLimit() (int, error) { return 0, errLimitUnknown }
