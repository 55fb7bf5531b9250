// Package textwords splits folded index text (message.IndexText) into
// the words of a word index, the index both stores keep beside the
// trigram index so that a common word's BODY search needs no phrase or
// recheck.
//
// A word is a maximal run of word characters: the ASCII letters and
// digits and every character outside ASCII except
// message.IndexSeparator. A needle of word characters only can occur in
// a text only inside one of its words (it holds no character that ends
// one), so "the text contains the needle" is exactly "one of the text's
// words contains the needle": the words containing the needle are looked
// up in a vocabulary, and the messages holding any of them in the word
// index.
package textwords

import (
	"unicode/utf8"

	"github.com/tidemark-mail/tidemark/internal/message"
)

// MaxWordBytes bounds a word as an index keeps it (PostgreSQL's btree and
// GIN entries hold at most about 2.7 KB): a longer run of word characters
// (a long token, an encoded blob in a text part) is kept as pieces of at
// most MaxWordBytes bytes, each starting at most MaxWordBytes/2 bytes
// after the one before, so that every string of at most MaxNeedleBytes
// in the run lies whole in one piece.
const MaxWordBytes = 512

// MaxNeedleBytes is the longest needle a word index decides: longer ones
// might straddle two pieces of a long word.
const MaxNeedleBytes = MaxWordBytes/2 - utf8.UTFMax

// MinLength is the shortest word kept, in characters: a needle an index
// decides is at least that long (message.IndexableNeedle), and never lies
// in a shorter word.
const MinLength = 3

// IsWordRune reports whether r is a character of a word. The ASCII set
// is exactly what SQLite FTS5's ascii tokenizer keeps in a token, so
// that FTS5 splits the words written here at the spaces and nowhere else.
func IsWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || 'A' <= r && r <= 'Z'
	}
	return r != message.IndexSeparator
}

// IsNeedle reports whether a folded needle is one a word index decides:
// word characters only, at most MaxNeedleBytes.
func IsNeedle(needle string) bool {
	if len(needle) > MaxNeedleBytes {
		return false
	}
	for _, r := range needle {
		if !IsWordRune(r) {
			return false
		}
	}
	return needle != ""
}

// Words returns the distinct words of at least MinLength characters of a
// folded text, in order of first appearance.
func Words(text string) []string {
	seen := make(map[string]struct{})
	var words []string
	start, runes := -1, 0
	end := func(i int) {
		if start >= 0 && runes >= MinLength {
			for _, w := range pieces(text[start:i]) {
				if _, ok := seen[w]; !ok {
					seen[w] = struct{}{}
					words = append(words, w)
				}
			}
		}
		start, runes = -1, 0
	}
	for i, r := range text {
		if IsWordRune(r) {
			if start < 0 {
				start = i
			}
			runes++
		} else {
			end(i)
		}
	}
	end(len(text))
	return words
}

// pieces returns a word as kept: itself, or for a word longer than
// MaxWordBytes its overlapping pieces (above), cut at character starts.
func pieces(w string) []string {
	if len(w) <= MaxWordBytes {
		return []string{w}
	}
	var out []string
	for start := 0; ; {
		end := runeStart(w, start+MaxWordBytes)
		out = append(out, w[start:end])
		if end == len(w) {
			return out
		}
		start = runeStart(w, start+MaxWordBytes/2)
	}
}

// runeStart returns the start of the character holding byte i of w, or
// len(w) when i is past it.
func runeStart(w string, i int) int {
	if i >= len(w) {
		return len(w)
	}
	for i > 0 && !utf8.RuneStart(w[i]) {
		i--
	}
	return i
}
