package modelscan

// State says whether a Scanner goes on, and why it stopped. The zero value is
// Scanning.
type State uint8

const (
	// Scanning: the top-level object has not closed yet; keep feeding.
	Scanning State = iota
	// Complete: the top-level object closed; stop feeding. Bytes after its
	// '}' are not scanned (Go's json.Decoder ignores them too).
	Complete
	// NotObject: the first byte after an optional UTF-8 BOM and whitespace
	// is not '{', so the body has no top-level members.
	NotObject
	// NotUTF8: the body starts like UTF-16 or UTF-32 (a NUL among its first
	// four bytes, or a first byte 0xFE or 0xFF as in their BOMs). Python's
	// json.loads(bytes) accepts those encodings, so refuse such a body
	// rather than pass it unscanned.
	NotUTF8
	// Invalid: a structural error (missing ':' or ',', a stray delimiter).
	// Scanning stopped there, so a model member may follow unseen: refuse
	// the body (any standard parser rejects it too).
	Invalid
)

// String names the state, e.g. "complete".
func (st State) String() string {
	switch st {
	case Scanning:
		return "scanning"
	case Complete:
		return "complete"
	case NotObject:
		return "not-object"
	case NotUTF8:
		return "not-utf8"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// Member is one top-level member whose key is "model" ignoring ASCII case.
type Member struct {
	// Start and End are absolute byte offsets (from the start of the body,
	// BOM included) of the value's raw text [Start, End), quotes included
	// for a string.
	Start, End int64
	// String is true when the value is a JSON string; false for numbers,
	// literals, objects and arrays.
	String bool
	// Value is the decoded string when String, it decodes to at most
	// MaxModelBytes (however it is escaped) and it has no bad escape.
	// Decoding follows Go's encoding/json: invalid UTF-8 and unpaired
	// surrogates become U+FFFD; control characters are kept.
	Value string
	// TooLong is true for a string value whose raw text (quotes included)
	// is longer than MaxModelRawBytes, or whose decoded text grows past
	// MaxModelBytes before any bad escape; Value is then empty.
	TooLong bool
	// BadEscape is true for a string value that is not TooLong and has an
	// unknown escape or a \u not followed by four hex digits; Value is then
	// empty. Every standard parser rejects such a value.
	BadEscape bool
	// ExactKey is true when the key is exactly "model" after unescaping;
	// false when it only equals it ignoring ASCII case ("Model", "MODEL").
	ExactKey bool
}
