package message

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func dumpPart(b *strings.Builder, p *Part, indent string) {
	fmt.Fprintf(b, "%s%s/%s %v enc=%q id=%q desc=%q md5=%q loc=%q disp=%q %v lang=%v off=%d,%d,%d size=%d lines=%d dec=%d unk=%v\n",
		indent, p.Type, p.Subtype, p.Params, p.Encoding, p.ID, p.Description, p.MD5, p.Location, p.Disposition, p.DispositionParams, p.Language,
		p.HeaderOffset, p.BodyOffset, p.EndOffset, p.Size(), p.Lines, p.DecodedSize, p.UnknownEncoding)
	for _, c := range p.Children {
		dumpPart(b, c, indent+"  ")
	}
	if p.Message != nil {
		fmt.Fprintf(b, "%s  envelope %+v\n", indent, p.Message.Envelope)
		dumpPart(b, p.Message.Body, indent+"  ")
	}
}

func TestDump(t *testing.T) {
	name := os.Getenv("DUMP")
	if name == "" {
		t.Skip()
	}
	data, _ := os.ReadFile(name)
	s := mustParse(t, data)
	var b strings.Builder
	fmt.Fprintf(&b, "envelope %+v\nsearch %+v\n", s.Envelope, s.Search)
	dumpPart(&b, s.Body, "")
	t.Log(b.String())
}
