package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// runSmallWrites times 125 small writes pipelined on one session of
// bench-N while a second session of the same mailbox waits in IDLE: 25 UID
// STOREs toggling \Answered, 25 pairs of UID STORE +FLAGS.SILENT (\Deleted)
// and UID EXPUNGE of one message, and 25 APPENDs (LITERAL+), all written
// at once, timed to the last tagged OK. The mailbox keeps its size. A
// change to one message should cost the same in a mailbox of any size.
func runSmallWrites(ctx context.Context, cfg Config, n int) ([]Result, error) {
	c, name, err := openBench(ctx, cfg, n)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if !c.Has("LITERAL+") || !c.Has("UIDPLUS") {
		return nil, fmt.Errorf("server lacks LITERAL+ or UIDPLUS")
	}
	var live []uint32
	if _, err := c.Exec("UID SEARCH ALL", func(resp []byte) {
		f := strings.Fields(string(resp))
		if len(f) > 2 && f[1] == "SEARCH" {
			for _, s := range f[2:] {
				if u, err := strconv.ParseUint(s, 10, 32); err == nil {
					live = append(live, uint32(u))
				}
			}
		}
	}); err != nil {
		return nil, err
	}
	// Each repetition expunges 25 distinct messages (and appends 25).
	if len(live) < 25 {
		return nil, fmt.Errorf("%s holds %d messages, too few for 25 expunges", name, len(live))
	}

	idler, err := cfg.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer idler.Close()
	if _, _, err := selectMailbox(idler, name, ""); err != nil {
		return nil, err
	}
	stopIdle, err := idler.startIdle()
	if err != nil {
		return nil, err
	}
	defer stopIdle()

	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(n)))
	var s samples
	for rep := range cfg.Reps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		op := "+"
		if rep%2 == 1 {
			op = "-"
		}
		var cmds []string
		for range 25 {
			cmds = append(cmds, fmt.Sprintf(`UID STORE %d %sFLAGS (\Answered)`, live[rng.IntN(len(live))], op))
		}
		for range 25 {
			i := rng.IntN(len(live))
			u := live[i]
			live = append(live[:i], live[i+1:]...)
			cmds = append(cmds, fmt.Sprintf(`UID STORE %d +FLAGS.SILENT (\Deleted)`, u), fmt.Sprintf("UID EXPUNGE %d", u))
		}
		for k := range 25 {
			m := cfg.Messages[(rep*25+k)%len(cfg.Messages)]
			cmds = append(cmds, "APPEND "+quote(name)+" {"+strconv.Itoa(len(m))+"+}\r\n"+string(m))
		}
		var appended []uint32
		d, b, err := timed(func() (Reply, error) {
			return c.Pipeline(cmds, func(resp []byte) {
				// The APPENDUID code is on the tagged OK, which Pipeline
				// hands over too.
				if i := bytes.Index(resp, []byte("[APPENDUID ")); i >= 0 {
					f := strings.Fields(string(resp[i+len("[APPENDUID "):]))
					if len(f) >= 2 {
						if u, err := strconv.ParseUint(strings.TrimSuffix(f[1], "]"), 10, 32); err == nil {
							appended = append(appended, uint32(u))
						}
					}
				}
			})
		})
		if err != nil {
			return nil, err
		}
		live = append(live, appended...)
		s.add(d, b)
	}
	r := withRate(s.result("smallwrites", n), 125, "cmd/s")
	r.Note = "125 pipelined: 50 UID STORE, 25 UID EXPUNGE, 25 APPEND; another session in IDLE"
	return []Result{r}, nil
}

// runWriters runs cfg.Concurrency sessions on the corpus mailbox for
// cfg.Duration, each toggling \Flagged on its own message with UID STORE
// .SILENT, one command at a time: durable writes per second over all
// sessions, and the median and p90 time of one write.
func runWriters(ctx context.Context, cfg Config, _ int) ([]Result, error) {
	k := cfg.Concurrency
	// Checked before populating: each writer needs a message of its own.
	if k > len(cfg.Messages) {
		return nil, fmt.Errorf("%d writers for %d messages", k, len(cfg.Messages))
	}
	clients, err := openCorpusSessions(ctx, cfg, k, true)
	defer closeAll(clients)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(cfg.Duration)
	all, writes, elapsed, err := runSessions(clients, func(i int, c *Client) (samples, int, error) {
		var mine samples
		var err error
		// Each session writes at least once, however late it starts on a
		// busy machine, so every run reports every writer.
		for j := 0; ctx.Err() == nil && (j == 0 || time.Now().Before(deadline)); j++ {
			op := "+"
			if j%2 == 1 {
				op = "-"
			}
			var d time.Duration
			var b int64
			if d, b, err = timed(func() (Reply, error) {
				return c.Exec(fmt.Sprintf(`STORE %d %sFLAGS.SILENT (\Flagged)`, i+1, op), nil)
			}); err != nil {
				break
			}
			mine.add(d, b)
		}
		// Leave the message unflagged.
		c.Exec(fmt.Sprintf(`STORE %d -FLAGS.SILENT (\Flagged)`, i+1), nil)
		return mine, len(mine.d), err
	})
	if err != nil {
		return nil, err
	}
	r := all.result("writers", 0)
	r.Rate, r.RateUnit = float64(writes)/elapsed.Seconds(), "writes/s"
	r.Note = fmt.Sprintf("%d sessions, one STORE at a time each", k)
	return []Result{r}, nil
}

// Pipeline sends cmds (without tags and CRLF; literals non-synchronizing)
// in one write and reads to the last one's tagged completion. onResp sees
// every untagged response and every tagged completion but the last. Every
// command must complete OK. The Reply is the last command's, with Bytes
// counting everything read.
func (c *Client) Pipeline(cmds []string, onResp func(resp []byte)) (Reply, error) {
	c.conn.SetDeadline(time.Now().Add(c.Timeout))
	tags := make([]string, len(cmds))
	for i, cmd := range cmds {
		tags[i] = c.nextTag()
		c.w.WriteString(tags[i])
		c.w.WriteByte(' ')
		c.w.WriteString(cmd)
		c.w.WriteString("\r\n")
	}
	if err := c.w.Flush(); err != nil {
		return Reply{}, fmt.Errorf("loadtest: write pipeline: %w", err)
	}
	var n int64
	for i, tag := range tags {
		for {
			resp, err := c.readResponse()
			if err != nil {
				return Reply{}, fmt.Errorf("loadtest: pipeline %s: %w", verb(cmds[i]), err)
			}
			n += int64(len(resp))
			if st, text, ok := parseTagged(resp, tag); ok {
				rep, err := c.finish(verb(cmds[i]), Reply{st, text, n})
				if err != nil {
					return rep, err
				}
				if i == len(tags)-1 {
					return rep, nil
				}
				if onResp != nil {
					onResp(resp)
				}
				break
			}
			if onResp != nil {
				onResp(resp)
			}
		}
	}
	return Reply{}, nil
}

// startIdle puts the session in IDLE and drains what it is sent until the
// returned function ends the IDLE.
func (c *Client) startIdle() (stop func(), err error) {
	tag := c.nextTag()
	c.conn.SetDeadline(time.Time{})
	c.w.WriteString(tag + " IDLE\r\n")
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	resp, err := c.readResponse()
	if err != nil {
		return nil, err
	}
	if resp[0] != '+' {
		return nil, fmt.Errorf("loadtest: IDLE refused: %q", trimCRLF(resp))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			resp, err := c.readResponse()
			if err != nil {
				return
			}
			if _, _, ok := parseTagged(resp, tag); ok {
				return
			}
		}
	}()
	return func() {
		c.w.WriteString("DONE\r\n")
		c.w.Flush()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}, nil
}
