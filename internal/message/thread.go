package message

import "strings"

// ThreadRefs are the message ids a message names for threading, without
// angle brackets: its own Message-ID and the ids it refers to.
type ThreadRefs struct {
	MessageID string
	Parents   []string // References, then In-Reply-To
}

// ThreadRefs takes the Message-ID, References and In-Reply-To decoded at
// delivery (RFC 5322 3.6.4). A Message-ID without brackets counts when it
// is a single word.
func (s *Structure) ThreadRefs() ThreadRefs {
	var r ThreadRefs
	if id := strings.TrimSpace(s.Search.MessageID); strings.HasPrefix(id, "<") {
		r.MessageID = bareMessageID(id)
	} else if len(strings.Fields(id)) == 1 {
		r.MessageID = id
	}
	for _, id := range s.Search.References {
		if b := bareMessageID(id); b != "" {
			r.Parents = append(r.Parents, b)
		}
	}
	if b := bareMessageID(s.Search.InReplyTo); b != "" {
		r.Parents = append(r.Parents, b)
	}
	return r
}

// IDs is the message's own id, then those it refers to.
func (r ThreadRefs) IDs() []string {
	if r.MessageID == "" {
		return r.Parents
	}
	return append([]string{r.MessageID}, r.Parents...)
}

// bareMessageID strips the angle brackets of "<id>" and surrounding space.
func bareMessageID(id string) string {
	id = strings.TrimSpace(id)
	id = strings.TrimPrefix(id, "<")
	id = strings.TrimSuffix(id, ">")
	return strings.TrimSpace(id)
}
