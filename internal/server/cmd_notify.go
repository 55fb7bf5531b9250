package server

import (
	"fmt"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/wire"
)

// NOTIFY (RFC 5465): NOTIFY SET [STATUS] replaces the events the client
// wants to hear about, NOTIFY NONE stops them. This file parses and
// checks the command; notify_events.go delivers the events.
//
// Checks, in the RFC's order: the grammar (BAD), the rules of 5 and 6.1
// (BAD: MessageNew and MessageExpunge only together, FlagChange and
// AnnotationChange only with both, SELECTED/SELECTED-DELAYED at most once
// and with message events only, fetch attributes only for them), events
// not supported (NO [BADEVENT (supported events)]), and the number of
// mailbox names (NO [NOTIFICATIONOVERFLOW] past Config.NotifyMaxNames).
// AnnotationChange is accepted and never fires: Tidemark has no message
// annotations (RFC 5257). A successful NOTIFY SET is also a NOOP (3.1):
// the sync point after it reports what the selected mailbox has pending.
func init() {
	register(&Command{Name: "NOTIFY", States: authenticated, Run: runNotify})
	addCapability("NOTIFY", afterAuth)
}

// notifyEvents is the set of events of one event group.
type notifyEvents struct {
	messageNew, messageExpunge, flagChange, annotationChange bool
	mailboxName, subscriptionChange                          bool
	mailboxMetadataChange, serverMetadataChange              bool
	fetch                                                    *fetchRequest // MessageNew's attributes (selected filters only)
}

// messages reports whether any message event is wanted.
func (e *notifyEvents) messages() bool {
	return e.messageNew || e.messageExpunge || e.flagChange || e.annotationChange
}

// union adds o's events to e (fetch attributes are never unioned: they
// belong to the selected filter alone).
func (e *notifyEvents) union(o *notifyEvents) {
	e.messageNew = e.messageNew || o.messageNew
	e.messageExpunge = e.messageExpunge || o.messageExpunge
	e.flagChange = e.flagChange || o.flagChange
	e.annotationChange = e.annotationChange || o.annotationChange
	e.mailboxName = e.mailboxName || o.mailboxName
	e.subscriptionChange = e.subscriptionChange || o.subscriptionChange
	e.mailboxMetadataChange = e.mailboxMetadataChange || o.mailboxMetadataChange
	e.serverMetadataChange = e.serverMetadataChange || o.serverMetadataChange
}

// notifyFilter is the mailbox specifier of an event group (RFC 5465 6).
type notifyFilter uint8

const (
	filterPersonal notifyFilter = iota // personal, and inboxes (6.3 allows it)
	filterSubscribed
	filterSubtree
	filterMailboxes
)

type notifyGroup struct {
	filter notifyFilter
	names  []string // subtree and mailboxes
	events notifyEvents
}

// matches reports whether the group covers mailbox name; subscribed is
// the user's subscriptions.
func (g *notifyGroup) matches(name string, subscribed map[string]bool) bool {
	switch g.filter {
	case filterPersonal:
		return true
	case filterSubscribed:
		return subscribed[name]
	case filterSubtree:
		for _, n := range g.names {
			if name == n || strings.HasPrefix(name, n+"/") {
				return true
			}
		}
	case filterMailboxes:
		for _, n := range g.names {
			if name == n {
				return true
			}
		}
	}
	return false
}

// notifySpec is a parsed NOTIFY SET.
type notifySpec struct {
	status   bool          // the STATUS indicator
	selected *notifyEvents // SELECTED or SELECTED-DELAYED; nil: neither (SELECTED NONE)
	delayed  bool          // SELECTED-DELAYED
	groups   []notifyGroup
}

// eventsFor returns the union of the events of the groups covering name.
func (sp *notifySpec) eventsFor(name string, subscribed map[string]bool) notifyEvents {
	var ev notifyEvents
	for i := range sp.groups {
		if sp.groups[i].matches(name, subscribed) {
			ev.union(&sp.groups[i].events)
		}
	}
	return ev
}

// any reports whether some group wants one of the events test picks.
func (sp *notifySpec) any(test func(*notifyEvents) bool) bool {
	for i := range sp.groups {
		if test(&sp.groups[i].events) {
			return true
		}
	}
	return false
}

// supportedEvents is the BADEVENT list (RFC 5465 8), and what is accepted.
func (s *Session) supportedEvents() []string {
	ev := []string{"MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange", "MailboxName", "SubscriptionChange"}
	if s.srv.hasMetadata() {
		ev = append(ev, "MailboxMetadataChange", "ServerMetadataChange")
	}
	return ev
}

// defaultNotifyMaxNames bounds the mailbox names one NOTIFY SET may list.
const defaultNotifyMaxNames = 1000

func runNotify(s *Session, c *Cmd) error {
	d := c.Dec
	if err := d.SP(); err != nil {
		return err
	}
	kw, err := d.Atom()
	if err != nil {
		return err
	}
	switch strings.ToUpper(kw) {
	case "NONE":
		if err := c.End(); err != nil {
			return err
		}
		s.stopNotify()
		return nil
	case "SET":
	default:
		return Bad("", "NOTIFY SET or NOTIFY NONE")
	}
	sp := &notifySpec{}
	var unknown []string
	names := 0
	if err := d.SP(); err != nil {
		return err
	}
	if b, _ := d.Peek(); b != '(' {
		a, err := d.Atom()
		if err != nil {
			return err
		}
		if !strings.EqualFold(a, "STATUS") {
			return Bad("", "Expected STATUS or an event group")
		}
		sp.status = true
		if err := d.SP(); err != nil {
			return err
		}
	}
	for {
		if err := readNotifyGroup(s, d, sp, &unknown, &names); err != nil {
			return err
		}
		if !d.Special(' ') {
			break
		}
	}
	if err := c.End(); err != nil {
		return err
	}
	if len(unknown) > 0 {
		return No("BADEVENT ("+strings.Join(s.supportedEvents(), " ")+")", "Unsupported event "+unknown[0])
	}
	limit := s.srv.cfg.NotifyMaxNames
	if limit == 0 {
		limit = defaultNotifyMaxNames
	}
	if limit > 0 && names > limit {
		return No("NOTIFICATIONOVERFLOW", fmt.Sprintf("At most %d mailbox names in one NOTIFY", limit))
	}
	return s.startNotify(sp)
}

// readNotifyGroup reads one event-group: "(" filter SP events ")".
func readNotifyGroup(s *Session, d *wire.Decoder, sp *notifySpec, unknown *[]string, names *int) error {
	if err := d.ExpectSpecial('('); err != nil {
		return err
	}
	f, err := d.Atom()
	if err != nil {
		return err
	}
	var g notifyGroup
	selected := false
	switch strings.ToLower(f) {
	case "selected", "selected-delayed":
		if sp.selected != nil {
			return Bad("", "Only one of SELECTED and SELECTED-DELAYED") // RFC 5465 6.1
		}
		selected = true
		sp.delayed = strings.EqualFold(f, "selected-delayed")
	case "personal", "inboxes":
		g.filter = filterPersonal
	case "subscribed":
		g.filter = filterSubscribed
	case "subtree", "mailboxes":
		g.filter = filterMailboxes
		if strings.EqualFold(f, "subtree") {
			g.filter = filterSubtree
		}
		if err := d.SP(); err != nil {
			return err
		}
		read := func() error {
			n, err := s.ReadMailbox(d)
			if err == errNameNotMUTF7 {
				n, err = noMatchPattern, nil // names no mailbox (3.1: ignored)
			}
			if strings.EqualFold(n, "INBOX") {
				n = "INBOX"
			}
			g.names = append(g.names, n)
			*names++
			return err
		}
		if b, _ := d.Peek(); b == '(' {
			err = d.List(read)
		} else {
			err = read()
		}
		if err != nil {
			return err
		}
		if len(g.names) == 0 {
			return Bad("", "No mailbox named")
		}
	default:
		return Bad("", "Unknown mailbox specifier "+f)
	}
	if err := d.SP(); err != nil {
		return err
	}
	var ev notifyEvents
	if b, _ := d.Peek(); b == '(' {
		err = d.List(func() error {
			a, err := d.Atom()
			if err != nil {
				return err
			}
			return readNotifyEvent(d, a, &ev, unknown)
		})
		if err != nil {
			return err
		}
	} else {
		a, err := d.Atom()
		if err != nil {
			return err
		}
		if !strings.EqualFold(a, "NONE") {
			// The examples of RFC 5465 3.1 list the events without
			// parentheses; accepted as well.
			for {
				if err := readNotifyEvent(d, a, &ev, unknown); err != nil {
					return err
				}
				if !d.Special(' ') {
					break
				}
				if a, err = d.Atom(); err != nil {
					return err
				}
			}
		}
	}
	if err := d.ExpectSpecial(')'); err != nil {
		return err
	}
	// RFC 5465 5: MessageNew and MessageExpunge together; FlagChange and
	// AnnotationChange only with them.
	if ev.messageNew != ev.messageExpunge {
		return Bad("", "MessageNew and MessageExpunge go together")
	}
	if (ev.flagChange || ev.annotationChange) && !ev.messageNew {
		return Bad("", "FlagChange and AnnotationChange need MessageNew and MessageExpunge")
	}
	if selected {
		// 6.1: only message events for the selected mailbox.
		if ev.mailboxName || ev.subscriptionChange || ev.mailboxMetadataChange || ev.serverMetadataChange {
			return Bad("", "Only message events apply to SELECTED")
		}
		sp.selected = &ev
		return nil
	}
	if ev.fetch != nil {
		return Bad("", "Fetch attributes apply to SELECTED only")
	}
	g.events = ev
	sp.groups = append(sp.groups, g)
	return nil
}

// readNotifyEvent takes one event name a, and reads MessageNew's fetch
// attributes.
func readNotifyEvent(d *wire.Decoder, a string, ev *notifyEvents, unknown *[]string) error {
	switch strings.ToLower(a) {
	case "messagenew":
		ev.messageNew = true
		if b, _ := d.Peek(); b == ' ' {
			if b2, _ := d.PeekAfter(); b2 == '(' {
				d.SP()
				r := &fetchRequest{}
				if err := d.List(func() error { return readFetchAtt(d, r) }); err != nil {
					return err
				}
				if len(r.items) == 0 {
					return Bad("", "Empty fetch attribute list")
				}
				ev.fetch = r
			}
		}
	case "messageexpunge":
		ev.messageExpunge = true
	case "flagchange":
		ev.flagChange = true
	case "annotationchange":
		ev.annotationChange = true
	case "mailboxname":
		ev.mailboxName = true
	case "subscriptionchange":
		ev.subscriptionChange = true
	case "mailboxmetadatachange":
		ev.mailboxMetadataChange = true
	case "servermetadatachange":
		ev.serverMetadataChange = true
	default:
		*unknown = append(*unknown, a)
	}
	return nil
}
