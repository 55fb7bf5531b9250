package lmtp

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
)

// BenchmarkDeliver measures LMTP deliveries per second: each op is one
// message (about 3 KB) to one recipient over a kept-open connection, from 1
// or 10 concurrent clients, each durable before its 250; to one user, or
// to 20 users in turn (the load tool's lmtp row). The store keeps idle
// users' databases open as tidemark serve does.
func BenchmarkDeliver(b *testing.B) {
	msg := "From: sender@example.net\r\nTo: alice@example.org\r\nSubject: bench\r\n\r\n" +
		strings.Repeat("The quick brown fox jumps over the lazy dog, again and again.\r\n", 48)
	for _, users := range []int{1, 20} {
		for _, clients := range []int{1, 10} {
			b.Run(fmt.Sprintf("users=%d/clients=%d", users, clients), func(b *testing.B) {
				st, err := sqlitestore.Open(b.TempDir(), sqlitestore.Options{KeepIdle: time.Minute})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { st.Close() })
				rcpts := make([]string, users)
				for i := range rcpts {
					u := fmt.Sprintf("u%d", i+1)
					if err := st.CreateUser(context.Background(), u); err != nil {
						b.Fatal(err)
					}
					rcpts[i] = u + "@example.org"
				}
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
						for {
							n := next.Add(1)
							if n > int64(b.N) {
								return
							}
							if err := c.SendMail("sender@example.net", []string{rcpts[int(n)%users]}, strings.NewReader(msg)); err != nil {
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
}
