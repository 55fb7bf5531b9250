package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestPublicListener(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9143":        false,
		"[::1]:9143":            false,
		"0.0.0.0:9143":          true,
		"[::]:9143":             true,
		"192.0.2.7:9143":        true,
		"[::ffff:127.0.0.1]:80": false,
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := publicListener(a); got != want {
			t.Errorf("%s: public %v, want %v", addr, got, want)
		}
	}
}

func TestKeyPermProblem(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg, err := keyPermProblem(p); err != nil || msg != "" {
		t.Errorf("0600: %q, %v", msg, err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := keyPermProblem(p); err != nil || msg == "" {
		t.Errorf("0644 not reported: %q, %v", msg, err)
	}
}
