package wasmhost

// Chat builds a POST of an OpenAI chat completion for model, carrying the
// client's own credential (which the plugin must strip).
func Chat(model string) Request {
	body := []byte(`{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`)
	return Request{Headers: []Pair{
		{":method", "POST"}, {":path", "/v1/chat/completions"}, {":authority", "gateway.local"},
		{"content-type", "application/json"}, {"authorization", "Bearer client-own-key"},
		{"content-length", itoa(len(body))},
	}, Body: body}
}

// OK is a 200 JSON reply.
func OK() Reply {
	return Reply{Status: 200, Headers: []Pair{{"content-type", "application/json"}}, Body: []byte(`{"choices":[]}`)}
}

// Status is a JSON error reply with the given status.
func Status(code int, headers ...Pair) Reply {
	return Reply{Status: code, Headers: append([]Pair{{"content-type", "application/json"}}, headers...),
		Body: []byte(`{"error":{"message":"status ` + itoa(code) + `"}}`)}
}
