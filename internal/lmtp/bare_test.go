package lmtp

import (
	"io"
	"net"
	"testing"
)

// TestBareRcptRewrite: only RCPT paths in command lines get bareDomain;
// message data, in DATA or BDAT, passes through byte for byte.
func TestBareRcptRewrite(t *testing.T) {
	in := "LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nrcpt to:<Bob> NOTIFY=NEVER\r\nRCPT TO:<c@example.org>\r\nRCPT TO:<\"q\">\r\n" +
		"DATA\r\nRCPT TO:<inside>\r\n..x\r\n.\r\n" +
		"BDAT 17 LAST\r\nRCPT TO:<chunk>\r\n" +
		"RCPT TO:<after>\r\n"
	want := "LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice@" + bareDomain + ">\r\nrcpt to:<Bob@" + bareDomain + "> NOTIFY=NEVER\r\nRCPT TO:<c@example.org>\r\nRCPT TO:<\"q\">\r\n" +
		"DATA\r\nRCPT TO:<inside>\r\n..x\r\n.\r\n" +
		"BDAT 17 LAST\r\nRCPT TO:<chunk>\r\n" +
		"RCPT TO:<after@" + bareDomain + ">\r\n"
	client, server := net.Pipe()
	go func() {
		client.Write([]byte(in))
		client.Close()
	}()
	c := &bareRcptConn{Conn: server}
	c.r = newReader(server)
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}
