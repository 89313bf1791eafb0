package main

import (
	"strconv"
	"strings"

	"github.com/token-failover/token-failover/wasmhost"
)

// prose is the chat text bodies are padded with: a sentence with the JSON
// escapes real prompts carry (a quoted word, a newline), so the plugin's
// model scan meets escapes every 60-odd bytes as it does on real traffic.
const prose = `Please review this function and explain the \"retry\" logic.\n`

// chatBody returns an OpenAI chat completion body of exactly size bytes
// (or the smallest such body, if size is smaller), asking for gpt-4o (which
// the configurations map), with "model" as its first or last member: a
// streaming model scan finds the first at once and the last only at the
// end.
func chatBody(size int, modelFirst bool) []byte {
	const model = `"model":"gpt-4o"`
	head, tail := `"messages":[{"role":"user","content":"`, `"}]`
	fixed := len(`{,}`) + len(model) + len(head) + len(tail)
	n := max(size-fixed, 0)
	pad := strings.Repeat(prose, n/len(prose)+1)[:n]
	if strings.HasSuffix(pad, `\`) && !strings.HasSuffix(pad, `\\`) {
		pad = pad[:n-1] + "x" // never end on half an escape
	}
	messages := head + pad + tail
	if modelFirst {
		return []byte("{" + model + "," + messages + "}")
	}
	return []byte("{" + messages + "," + model + "}")
}

// sessionIDs are the x-session-id values requests carry (every variant gets
// the same requests; only g reads the header).
var sessionIDs = func() []string {
	ids := make([]string, 64)
	for i := range ids {
		ids[i] = "session-" + strconv.Itoa(i)
	}
	return ids
}()

// emulatorRequest is request i with body as Envoy hands it to the filter
// after Go's HTTP client sent it (the client's headers plus those Envoy
// adds before the filter chain).
func emulatorRequest(body []byte, i int) wasmhost.Request {
	return wasmhost.Request{Headers: []wasmhost.Pair{
		{":authority", "127.0.0.1:10000"}, {":path", "/v1/chat/completions"}, {":method", "POST"},
		{":scheme", "http"}, {"user-agent", "Go-http-client/1.1"}, {"content-length", strconv.Itoa(len(body))},
		{"authorization", "Bearer client-own-key"}, {"content-type", "application/json"},
		{"x-session-id", sessionIDs[i%len(sessionIDs)]}, {"accept-encoding", "gzip"},
		{"x-forwarded-proto", "http"}, {"x-request-id", "3f1b7a52-64a4-4b7e-9d0c-" + strconv.Itoa(100000000000+i)},
	}, Body: body}
}
