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
