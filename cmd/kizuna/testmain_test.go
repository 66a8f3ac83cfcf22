package main

import (
	"os"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/testbin"
)

// TestMain removes the binary testbin built for the terminal test.
func TestMain(m *testing.M) {
	os.Exit(testbin.Main(m))
}
