package textwords

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestWords(t *testing.T) {
	got := Words("grüße, an-die welt\uffffwelt ab 1234 größe\r\nbenchmarks")
	want := []string{"grüße", "die", "welt", "1234", "größe", "benchmarks"}
	if !slices.Equal(got, want) {
		t.Fatalf("Words = %q, want %q", got, want)
	}
	for _, c := range []struct {
		needle string
		word   bool
	}{{"bench", true}, {"größ", true}, {"an-die", false}, {"a b", false}, {"x\uffffy", false}, {"rüß", true}, {"", false}} {
		if IsNeedle(c.needle) != c.word {
			t.Errorf("IsNeedle(%q) = %v", c.needle, !c.word)
		}
	}
}

// A needle of word characters is in a text exactly when it is in one of
// the text's words.
func TestWordsDecideSubstrings(t *testing.T) {
	text := "the benchmark's run: benchmarking\uffffrerun äöü-x ab"
	words := Words(text)
	for i := range len(text) {
		for j := i + MinLength; j <= len(text); j++ {
			n := text[i:j]
			if !IsNeedle(n) || !utf8.ValidString(n) || utf8.RuneCountInString(n) < MinLength {
				continue
			}
			inWord := slices.ContainsFunc(words, func(w string) bool { return strings.Contains(w, n) })
			if inWord != strings.Contains(text, n) {
				t.Fatalf("%q: in a word %v, in the text %v", n, inWord, !inWord)
			}
		}
	}
}

// A long run of word characters is kept as pieces, and every needle a
// word index decides that lies in the run lies in one piece.
func TestLongWords(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 3*MaxWordBytes+100; i++ {
		b.WriteString([]string{"ab", "ü", "c", "€", "9"}[i%5])
	}
	run := b.String()
	words := Words("x " + run + " y")
	for _, w := range words {
		if len(w) > MaxWordBytes || !utf8.ValidString(w) {
			t.Fatalf("piece of %d bytes, valid %v", len(w), utf8.ValidString(w))
		}
	}
	for i := 0; i < len(run); i++ {
		if !utf8.RuneStart(run[i]) {
			continue
		}
		for _, n := range []int{MinLength, 40, MaxNeedleBytes - 3, MaxNeedleBytes} {
			j := min(i+n, len(run))
			for j > i && j < len(run) && !utf8.RuneStart(run[j]) {
				j--
			}
			needle := run[i:j]
			if !IsNeedle(needle) || utf8.RuneCountInString(needle) < MinLength {
				continue
			}
			if !slices.ContainsFunc(words, func(w string) bool { return strings.Contains(w, needle) }) {
				t.Fatalf("%q at %d in no piece", needle, i)
			}
		}
	}
	if IsNeedle(strings.Repeat("a", MaxNeedleBytes+1)) {
		t.Fatal("a needle longer than MaxNeedleBytes decided by words")
	}
}
