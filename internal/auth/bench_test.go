package auth

import "testing"

// The pair shows what the verified-credential cache saves: a full argon2id
// verification with the default parameters against a cache hit (which
// still reads the record from the database).
func benchmarkLogin(b *testing.B, cacheTTL int) {
	opts := Options{FailureDelay: -1, MaxFailuresPerIP: -1, MaxFailuresPerUser: -1}
	if cacheTTL < 0 {
		opts.CacheTTL = -1
	}
	a := openTest(b, b.TempDir(), opts)
	if err := a.Add("bench", "a fairly long passphrase"); err != nil {
		b.Fatal(err)
	}
	if err := a.Authenticate(ctx, "bench", "a fairly long passphrase", peer1); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Authenticate(ctx, "bench", "a fairly long passphrase", peer1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticateFullHash(b *testing.B) { benchmarkLogin(b, -1) }
func BenchmarkAuthenticateCached(b *testing.B)   { benchmarkLogin(b, 0) }

func BenchmarkHashDefaultParams(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hashPassword("a fairly long passphrase", DefaultHashParams); err != nil {
			b.Fatal(err)
		}
	}
}
