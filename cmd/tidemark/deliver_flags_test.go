package main

import (
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestParseFlagList(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    store.Flags
		wantErr string
	}{
		{in: ``, want: store.Flags{}},
		{in: `\seen,\ANSWERED \Flagged,\Deleted \Draft`, want: store.Flags{System: store.FlagSeen | store.FlagAnswered | store.FlagFlagged | store.FlagDeleted | store.FlagDraft}},
		{in: `work,$Label1 Work`, want: store.Flags{Keywords: []string{"$Label1", "work"}}},
		{in: `\Recent`, wantErr: "unknown system flag"},
		{in: `\*`, wantErr: "unknown system flag"},
		{in: `bad(word`, wantErr: "invalid keyword"},
		{in: strings.Repeat("k", 256), wantErr: "invalid keyword"},
	} {
		got, err := parseFlagList(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseFlagList(%q) error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseFlagList(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}
