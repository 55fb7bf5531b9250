package bodypack

import (
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/tidemark-mail/tidemark/internal/corpus"
	"github.com/tidemark-mail/tidemark/internal/loadtest"
)

// corpusBodies returns the messages of ../shared/data/bench.mbox with
// CRLF line ends, as the server stores them.
func corpusBodies(b *testing.B) [][]byte {
	bodies, err := loadtest.ReadMbox(corpus.Path())
	if err != nil {
		b.Skip(err)
	}
	return bodies
}

// BenchmarkDecodeCorpus decompresses every message of bench.mbox packed
// as the store packs it (the fastest level with the dictionary) and in
// the frame forms it could take instead, reporting the stored bytes and
// the CPU per message: frames naming a dictionary take the library's
// generic sequence decoder, not its assembly one (zstd.sequenceDecs
// decodeSyncSimple declines when a dictionary is set), and every small
// frame reads its own literal table.
func BenchmarkDecodeCorpus(b *testing.B) {
	bodies := corpusBodies(b)
	enc := func(opts ...zstd.EOption) func([]byte) []byte {
		e := must(zstd.NewWriter(nil, append([]zstd.EOption{zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true)}, opts...)...))
		return func(d []byte) []byte { return e.EncodeAll(d, nil) }
	}
	for _, form := range []struct {
		name string
		pack func([]byte) []byte
	}{
		{"stored", Compress},
		{"no-dictionary-fastest", enc(zstd.WithEncoderLevel(zstd.SpeedFastest))},
		{"no-dictionary-default", enc(zstd.WithEncoderLevel(zstd.SpeedDefault))},
		{"dictionary-default", enc(zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderDictRaw(DictID, dict))},
	} {
		var packed [][]byte
		size, total := 0, 0
		for _, d := range bodies {
			p := form.pack(d)
			packed = append(packed, p)
			size += len(p)
			total += len(d)
		}
		b.Run(form.name, func(b *testing.B) {
			scratch := make([]byte, 0, 256<<10)
			b.SetBytes(int64(total))
			b.ResetTimer()
			c0 := processCPU()
			for i := 0; i < b.N; i++ {
				for _, p := range packed {
					out, err := decoder.DecodeAll(p, scratch[:0])
					if err != nil {
						b.Fatal(err)
					}
					scratch = out
				}
			}
			b.ReportMetric(float64(size)/float64(len(bodies)), "stored-B/msg")
			b.ReportMetric(float64(processCPU()-c0)/float64(b.N*len(bodies)), "cpu-ns/msg")
		})
	}
}

// processCPU is the process's CPU time in nanoseconds: on a machine
// shared with other work it tells the decoder's cost where wall time
// does not.
func processCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
