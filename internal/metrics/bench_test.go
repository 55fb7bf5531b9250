package metrics

import (
	"testing"
	"time"
)

// BenchmarkCommandDone is what the observer adds to every IMAP command.
func BenchmarkCommandDone(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.CommandDone("UID FETCH", "OK", 150*time.Microsecond)
	}
}

// BenchmarkBytesRead is what the observer adds to every socket read.
func BenchmarkBytesRead(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.BytesRead(4096)
	}
}
