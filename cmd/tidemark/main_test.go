package main

import (
	"os"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
)

// TestMain stops the private PostgreSQL that tests of the PostgreSQL
// store may have started.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
