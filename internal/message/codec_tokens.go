package message

// tokens are the strings a version 3 stored form may name by number in the
// fields of a part that hold MIME vocabulary: type, subtype, parameter
// names and values, transfer encoding, disposition (codec.go). The list is
// part of the stored form: entries are only ever appended, never changed,
// removed or reordered.
var tokens = [...]string{
	// Types and subtypes.
	"text", "plain", "html", "multipart", "mixed", "alternative", "related",
	"signed", "encrypted", "report", "digest", "message", "rfc822", "global",
	"delivery-status", "disposition-notification", "rfc822-headers", "partial",
	"external-body", "application", "octet-stream", "pdf", "zip", "gzip",
	"json", "xml", "pkcs7-signature", "pkcs7-mime", "pgp-signature",
	"pgp-encrypted", "ms-tnef", "msword", "vnd.ms-excel", "vnd.ms-powerpoint",
	"vnd.openxmlformats-officedocument.wordprocessingml.document",
	"vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"vnd.openxmlformats-officedocument.presentationml.presentation",
	"ics", "image", "jpeg", "png", "gif", "webp", "svg+xml", "audio", "video",
	"calendar", "csv", "enriched", "rtf", "x-vcard", "vcard", "css",
	"javascript",
	// Parameter names.
	"charset", "boundary", "name", "filename", "format", "delsp", "type",
	"protocol", "micalg", "report-type", "method", "size", "creation-date",
	"modification-date", "read-date", "reply-type", "smime-type", "id",
	"number", "total", "access-type",
	// Parameter values.
	"us-ascii", "US-ASCII", "utf-8", "UTF-8", "iso-8859-1", "ISO-8859-1",
	"iso-8859-15", "ISO-8859-15", "windows-1252", "Windows-1252", "iso-2022-jp",
	"ISO-2022-JP", "koi8-r", "gb2312", "big5", "shift_jis", "flowed", "fixed",
	"yes", "no", "REQUEST", "REPLY", "CANCEL", "PUBLISH", "text/html",
	"text/plain", "application/pgp-signature", "application/pkcs7-signature",
	"application/pgp-encrypted", "pgp-sha256", "pgp-sha1", "sha-256", "sha1",
	"signed-data", "enveloped-data",
	// Transfer encodings, as written.
	"7bit", "8bit", "binary", "quoted-printable", "base64", "7BIT", "8BIT",
	"BINARY", "QUOTED-PRINTABLE", "BASE64", "Quoted-Printable", "Base64",
	"7Bit", "8Bit",
	// Dispositions.
	"inline", "attachment",
}

// tokenIndex finds a string's number in tokens.
var tokenIndex = func() map[string]int {
	m := make(map[string]int, len(tokens))
	for i, t := range tokens {
		if _, ok := m[t]; !ok {
			m[t] = i
		}
	}
	return m
}()
