package core_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestCoreImports holds the dependency rule without the linter: core sees
// the world only through ports, so every package it depends on is in the
// standard library, core or ports.
func TestCoreImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Standard", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/usermgmt/usermgmt/"
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Standard   bool
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode: %v", err)
		}
		checked++
		switch {
		case p.Standard:
		case strings.HasPrefix(p.ImportPath, mod+"core"), strings.HasPrefix(p.ImportPath, mod+"ports"):
		default:
			t.Errorf("core depends on %s: only the standard library, core and ports are allowed", p.ImportPath)
		}
	}
	if checked == 0 {
		t.Fatal("go list returned no packages")
	}
}
