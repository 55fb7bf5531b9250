package lmtp

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkDeliver measures LMTP deliveries per second: each op is one
// message (about 3 KB) to one recipient over a kept-open connection, from 1
// or 10 concurrent clients, each durable before its 250.
func BenchmarkDeliver(b *testing.B) {
	msg := "From: sender@example.net\r\nTo: alice@example.org\r\nSubject: bench\r\n\r\n" +
		strings.Repeat("The quick brown fox jumps over the lazy dog, again and again.\r\n", 48)
	for _, clients := range []int{1, 10} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			st := testStore(b)
			_, addr := startServer(b, Config{Store: st}, "tcp")
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			for range clients {
				c := dial(b, "tcp", addr)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if err := c.SendMail("sender@example.net", []string{"alice@example.org"}, strings.NewReader(msg)); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
