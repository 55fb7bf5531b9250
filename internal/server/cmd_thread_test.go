package server

import (
	"reflect"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestThreadAlgorithms runs the three algorithms on sortFixture: a missing
// parent (6), a missing first reference (5), identical dates (1 and 4), a
// message without Date (3), encoded-word and [blob] Re:/Fwd: subjects, and
// two reply-or-forward roots of one base subject (3 and 6) merged under a
// dummy.
func TestThreadAlgorithms(t *testing.T) {
	_, c, _ := sortEnv(t)
	for _, x := range []struct{ cmd, want string }{
		{"THREAD REFERENCES UTF-8 ALL", "((3 4)(6))(1 2 5)"},
		{"UID THREAD REFERENCES UTF-8 ALL", "((4 5)(7))(2 3 6)"},
		{"THREAD ORDEREDSUBJECT UTF-8 ALL", "(3 (6)(4))(1 (2)(5))"},
		{"UID THREAD ORDEREDSUBJECT US-ASCII ALL", "(4 (7)(5))(2 (3)(6))"},
		{"THREAD REFS UTF-8 ALL", "(6)(3 4)(1 2 5)"},
		// Threads of the matching messages only: 2 is not searched, so
		// 5's parent is missing and 5 hangs under nothing.
		{"THREAD REFERENCES UTF-8 NOT 2", "((3 4)(6))(1 5)"},
		{"THREAD REFERENCES UTF-8 1:2,6", "(6)(1 2)"},
		{`THREAD ORDEREDSUBJECT UTF-8 TEXT "not in mailbox"`, ""},
	} {
		c.send("t " + x.cmd)
		want := `^\* THREAD$`
		if x.want != "" {
			want = `^\* THREAD ` + regexpQuote(x.want) + `$`
		}
		c.expect(want, `^t OK`)
	}
	c.send("b THREAD JWZ UTF-8 ALL")
	c.expect(`^b BAD .*`)
	c.send("c THREAD REFERENCES ISO-2022-JP ALL")
	c.expect(`^c NO \[BADCHARSET .*`)
}

func regexpQuote(s string) string {
	out := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '(' || s[i] == ')' {
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// TestSortThreadImapClient: go-imap v2's client runs SORT and THREAD and
// reads the answers with its own parser.
func TestSortThreadImapClient(t *testing.T) {
	env, _, _ := sortEnv(t)
	cl := dialImapClient(t, env)
	caps, err := cl.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Has("SORT") || len(caps.ThreadAlgorithms()) != 3 {
		t.Fatalf("capabilities: %v", caps)
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	nums, err := cl.Sort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}, {Key: imapclient.SortKeyDate, Reverse: true}},
	}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{4, 6, 3, 5, 2, 1}; !reflect.DeepEqual(nums, want) {
		t.Errorf("SORT: %v, want %v", nums, want)
	}
	uids, err := cl.UIDSort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "budget"}}},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeyFrom}},
	}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{4, 5, 7}; !reflect.DeepEqual(uids, want) {
		t.Errorf("UID SORT: %v, want %v", uids, want)
	}
	threads, err := cl.Thread(&imapclient.ThreadOptions{Algorithm: imap.ThreadReferences, SearchCriteria: &imap.SearchCriteria{}}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	want := []imapclient.ThreadData{
		{SubThreads: []imapclient.ThreadData{{Chain: []uint32{3, 4}}, {Chain: []uint32{6}}}},
		{Chain: []uint32{1, 2, 5}},
	}
	if !reflect.DeepEqual(threads, want) {
		t.Errorf("THREAD REFERENCES: %+v, want %+v", threads, want)
	}
	threads, err = cl.UIDThread(&imapclient.ThreadOptions{Algorithm: imap.ThreadOrderedSubject, SearchCriteria: &imap.SearchCriteria{}}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	want = []imapclient.ThreadData{
		{Chain: []uint32{4}, SubThreads: []imapclient.ThreadData{{Chain: []uint32{7}}, {Chain: []uint32{5}}}},
		{Chain: []uint32{2}, SubThreads: []imapclient.ThreadData{{Chain: []uint32{3}}, {Chain: []uint32{6}}}},
	}
	if !reflect.DeepEqual(threads, want) {
		t.Errorf("UID THREAD ORDEREDSUBJECT: %+v, want %+v", threads, want)
	}
}
