package mailimport

import (
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestMaildirFlags(t *testing.T) {
	kw := []string{"$Label1", "Work"}
	f := maildirFlags("123.M1.host,S=80:2,DFPRSTab", kw)
	want := store.Flags{
		System:   store.FlagDraft | store.FlagFlagged | store.FlagAnswered | store.FlagSeen | store.FlagDeleted,
		Keywords: store.NormalizeKeywords([]string{"$Forwarded", "$Label1", "Work"}),
	}
	if !f.Equal(want) {
		t.Errorf("got %+v, want %+v", f, want)
	}
	if f := maildirFlags("123.M1.host", kw); !f.Equal(store.Flags{}) {
		t.Errorf("no info: %+v", f)
	}
	if f := maildirFlags("1:2,Sz", kw); !f.Equal(store.Flags{System: store.FlagSeen}) {
		t.Errorf("unknown keyword letter: %+v", f)
	}

	var keywords []string
	info, dropped := maildirInfo(want, &keywords)
	if info != ":2,DFPRSTab" || len(dropped) != 0 || !slices.Equal(keywords, []string{"$Label1", "Work"}) {
		t.Errorf("info %q keywords %q dropped %q", info, keywords, dropped)
	}
	if back := maildirFlags("x"+info, keywords); !back.Equal(want) {
		t.Errorf("round trip %+v", back)
	}
}

func TestMaildirInfoKeywordLimit(t *testing.T) {
	var keywords []string
	var f store.Flags
	for c := 'A'; c <= 'Z'; c++ {
		f.Keywords = append(f.Keywords, "k"+string(c))
	}
	f.Keywords = append(f.Keywords, "overflow")
	_, dropped := maildirInfo(f, &keywords)
	if len(keywords) != 26 || !slices.Equal(dropped, []string{"overflow"}) {
		t.Errorf("keywords %d dropped %q", len(keywords), dropped)
	}
}

func TestFolderNames(t *testing.T) {
	for _, c := range []struct{ mailbox, dir string }{
		{"Sent", ".Sent"},
		{"Archive/2023", ".Archive.2023"},
		{"Entwürfe", ".Entw&APw-rfe"},
		{"a.b/c&d", ".a&AC4-b.c&-d"},
		{"日本語", ".&ZeVnLIqe-"},
	} {
		if got := folderDirName(c.mailbox); got != c.dir {
			t.Errorf("folderDirName(%q) = %q, want %q", c.mailbox, got, c.dir)
		}
		if got, err := folderMailboxName(c.dir); err != nil || got != c.mailbox {
			t.Errorf("folderMailboxName(%q) = %q, %v", c.dir, got, err)
		}
	}
	for _, bad := range []string{".a&Zz", ".a..b", ".x&-.&AAA-"} {
		if got, err := folderMailboxName(bad); err == nil {
			t.Errorf("folderMailboxName(%q) = %q, want error", bad, got)
		}
	}
}
