package message

import "fmt"

// Check verifies the invariants every Structure from Parse satisfies: parts
// nest inside their parent's body in order, offsets are ordered and within
// the message, multiparts have parts, encapsulated messages fill their
// part's body, decoded sizes are plausible. It is for tests and for
// checking stored data; it reports the first violation.
func (s *Structure) Check() error {
	if s.Root() == nil {
		return fmt.Errorf("message: no body part")
	}
	if s.Root().HeaderOffset != 0 || s.Root().EndOffset != s.Size {
		return fmt.Errorf("message: body spans [%d,%d), message size %d", s.Root().HeaderOffset, s.Root().EndOffset, s.Size)
	}
	return checkPart(s.Root(), "", 0, s.Size, 0)
}

func checkPart(p *Part, name string, lo, hi int64, depth int) error {
	if depth > maxDecodeDepth {
		return fmt.Errorf("message: part %s: nested too deep", name)
	}
	if !(lo <= p.HeaderOffset && p.HeaderOffset <= p.BodyOffset && p.BodyOffset <= p.EndOffset && p.EndOffset <= hi) {
		return fmt.Errorf("message: part %s: offsets %d,%d,%d outside [%d,%d]", name, p.HeaderOffset, p.BodyOffset, p.EndOffset, lo, hi)
	}
	if p.Type == "" || p.Subtype == "" {
		return fmt.Errorf("message: part %s: empty type", name)
	}
	if p.Lines < 0 || p.Lines > p.Size() {
		return fmt.Errorf("message: part %s: %d lines in %d octets", name, p.Lines, p.Size())
	}
	if p.DecodedSize < 0 {
		return fmt.Errorf("message: part %s: negative decoded size", name)
	}
	switch k := classifyEncoding(p.Encoding); {
	case p.IsMultipart() || p.Message != nil:
	case k == encBase64 && p.DecodedSize > p.Size()*3/4+3,
		k == encQP && p.DecodedSize > p.Size(),
		(k == encIdentity || k == encUnknown) && p.DecodedSize != p.Size():
		return fmt.Errorf("message: part %s: decoded size %d for %d octets of %q", name, p.DecodedSize, p.Size(), p.Encoding)
	}
	if p.IsMultipart() {
		if len(p.Children) == 0 {
			return fmt.Errorf("message: multipart %s has no parts", name)
		}
		if p.Message != nil {
			return fmt.Errorf("message: multipart %s has an encapsulated message", name)
		}
		at := p.BodyOffset
		for i, c := range p.Children {
			if err := checkPart(c, fmt.Sprintf("%s%d.", name, i+1), at, p.EndOffset, depth+1); err != nil {
				return err
			}
			at = c.EndOffset
		}
	} else if len(p.Children) > 0 {
		return fmt.Errorf("message: part %s of type %s/%s has children", name, p.Type, p.Subtype)
	}
	if m := p.Message; m != nil {
		if m.Body == nil || m.Body.HeaderOffset != p.BodyOffset || m.Body.EndOffset != p.EndOffset {
			return fmt.Errorf("message: part %s: encapsulated message does not fill the body", name)
		}
		return checkPart(m.Body, name, p.BodyOffset, p.EndOffset, depth+1)
	}
	return nil
}
