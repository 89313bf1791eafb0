package config

import (
	"sort"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/token-failover/token-failover/provider"
)

// providerFields are the provider fields this plugin reads.
var providerFields = []string{"type", "id", "apiTokens", "modelMapping", "failover", "retryOnFailure",
	"tokenSelection", "stickyHeader", "protocol", "basePath", "basePathHandling", "providerDomain",
	"providerBasePath", "capabilities", "host"}

// typeFields are provider fields that only some types read.
var typeFields = map[string][]string{
	"azureServiceUrl":         {"azure"},
	"claudeVersion":           {"claude"},
	"claudeCodeMode":          {"claude"},
	"apiVersion":              {"claude", "gemini"},
	"authHeader":              {"generic"},
	"authPrefix":              {"generic"},
	"genericHost":             {"generic"},
	"openaiCustomUrl":         {"openai"},
	"authHeaderKey":           {"openai"},
	"qwenEnableCompatible":    {"qwen"},
	"qwenDomain":              {"qwen"},
	"zhipuDomain":             {"zhipuai"},
	"zhipuCodePlanMode":       {"zhipuai"},
	"doubaoDomain":            {"doubao"},
	"cloudflareAccountId":     {"cloudflare"},
	"minimaxApiType":          {"minimax"},
	"minimaxGroupId":          {"minimax"},
	"hunyuanAuthId":           {"hunyuan"},
	"hunyuanAuthKey":          {"hunyuan"},
	"ollamaServerHost":        {"ollama"},
	"ollamaServerPort":        {"ollama"},
	"vllmServerHost":          {"vllm"},
	"vllmCustomUrl":           {"vllm"},
	"awsRegion":               {"bedrock"},
	"awsAccessKey":            {"bedrock"},
	"awsSecretKey":            {"bedrock"},
	"vertexOpenAICompatible":  {"vertex"},
	"vertexAuthKey":           {"vertex"},
	"vertexAuthServiceName":   {"vertex"},
	"vertexRegion":            {"vertex"},
	"vertexProjectId":         {"vertex"},
	"vertexTokenRefreshAhead": {"vertex"},
	"klingAccessKey":          {"kling"},
	"klingSecretKey":          {"kling"},
	"klingTokenRefreshAhead":  {"kling"},
	"difyApiUrl":              {"dify"},
	"botType":                 {"dify"},
	"targetLang":              {"deepl"},
	"inputVariable":           {"dify"},
	"outputVariable":          {"dify"},
}

// ignoredFields are Higress provider fields this plugin accepts and does
// not act on, with what they do in Higress. None changes the host, path,
// auth header or model of a request.
var ignoredFields = map[string]string{
	"timeout":                          "in Higress it bounds only context-file fetches",
	"firstByteTimeout":                 "Higress adds x-envoy-upstream-rq-first-byte-timeout-ms to streaming requests; set the route's timeout in Envoy instead",
	"customSettings":                   "a request-body edit; this plugin changes only the model",
	"responseJsonSchema":               "a request-body edit; this plugin changes only the model",
	"contextCleanupCommands":           "a request-body edit; this plugin changes only the model",
	"mergeConsecutiveMessages":         "a request-body edit; this plugin changes only the model",
	"hiclawMode":                       "a request-body edit; this plugin changes only the model",
	"disableStreamUsageStats":          "this plugin never adds stream_options.include_usage (Higress does unless this is true)",
	"context":                          "a request-body edit (adds a file's text); this plugin changes only the model",
	"moonshotFileId":                   "a request-body edit (adds a file); this plugin changes only the model",
	"reasoningContentMode":             "a response edit",
	"promoteThinkingOnEmpty":           "a response edit",
	"logUpstreamErrorResponseBody":     "logging only",
	"geminiSafetySetting":              "part of Higress's OpenAI-to-Gemini body conversion, which this plugin does not do",
	"geminiThinkingBudget":             "part of Higress's OpenAI-to-Gemini body conversion, which this plugin does not do",
	"qwenEnableSearch":                 "DashScope's native protocol only",
	"bedrockAdditionalFields":          "part of Higress's OpenAI-to-Converse body conversion, which this plugin does not do",
	"promptCacheRetention":             "part of Higress's OpenAI-to-Converse body conversion, which this plugin does not do",
	"bedrockPromptCachePointPositions": "part of Higress's OpenAI-to-Converse body conversion, which this plugin does not do",
	"qwenFileIds":                      "DashScope's native protocol only",
	"openaiExtraCustomUrls":            "written by the Higress console; Higress's plugin ignores it too",
	"openaiCustomServiceName":          "written by the Higress console; Higress's plugin ignores it too",
	"openaiCustomServicePort":          "written by the Higress console; Higress's plugin ignores it too",
}

// otherTypeFields belong to Higress types this plugin does not support.
var otherTypeFields = []string{"tritonModelVersion", "tritonDomain"}

// hints suggest a field for an unknown key that is not a near spelling.
var hints = map[string]string{"domain": "providerDomain"}

// knownProviderFields is every field a provider object may hold without an
// unknown-field warning ("version" gets its own warning).
var knownProviderFields = func() []string {
	out := append(append([]string{"version"}, providerFields...), otherTypeFields...)
	for k := range typeFields {
		out = append(out, k)
	}
	for k := range ignoredFields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}()

// applies tells whether a type reads a field.
func applies(field, typ string) bool {
	types, ok := typeFields[field]
	if !ok {
		return true
	}
	for _, t := range types {
		if t == typ {
			return true
		}
	}
	return false
}

// notes warns about the fields of v that have no effect for its type
// (typ is "" when the type is unknown).
func (r *reader) notes(v gjson.Result, path, typ string) {
	v.ForEach(func(k, _ gjson.Result) bool {
		at := join(path, k.Str)
		switch why, ignored := ignoredFields[k.Str]; {
		case ignored:
			r.warn(at, "ignored: %s", why)
		case k.Str == "version":
			r.warn(at, "has no effect: Higress does not read it either; the anthropic-version header comes from "+
				"claudeVersion, else apiVersion (default %s)", provider.DefaultClaudeVersion)
		case contains(otherTypeFields, k.Str):
			r.warn(at, "ignored: it belongs to a Higress type this plugin does not support")
		case k.Str == "host" && (typ == "azure" || typ == "ollama"):
			r.warn(at, "has no effect for type %s (its host comes from %s; providerDomain replaces any host)", typ,
				map[string]string{"azure": "azureServiceUrl", "ollama": "ollamaServerHost"}[typ])
		case typ != "" && !applies(k.Str, typ):
			r.warn(at, "has no effect for type %s (only for %s)", typ, strings.Join(typeFields[k.Str], ", "))
		}
		return true
	})
}

// options reads the provider settings of a block of type typ.
func (r *reader) options(v gjson.Result, path, typ string) provider.Options {
	str := func(key string) string {
		if !applies(key, typ) {
			return ""
		}
		return r.headerValue(v, path, key)
	}
	flag := func(key string, def bool) bool {
		if !applies(key, typ) {
			return def
		}
		return r.boolean(v, path, key, def)
	}
	o := provider.Options{
		Host:                   r.hostValue(v, path, "host"),
		ProviderDomain:         r.hostValue(v, path, "providerDomain"),
		ProviderBasePath:       r.pathValue(v, path, "providerBasePath"),
		AzureServiceURL:        str("azureServiceUrl"),
		AuthHeader:             str("authHeader"),
		AuthPrefix:             str("authPrefix"),
		OpenAICustomURL:        str("openaiCustomUrl"),
		QwenNative:             !flag("qwenEnableCompatible", true),
		ZhipuCodePlan:          flag("zhipuCodePlanMode", false),
		CloudflareAccountID:    str("cloudflareAccountId"),
		MinimaxPro:             str("minimaxApiType") == "pro",
		MinimaxGroupID:         str("minimaxGroupId"),
		AWSRegion:              str("awsRegion"),
		VertexOpenAICompatible: flag("vertexOpenAICompatible", false),
		DifyAPIURL:             str("difyApiUrl"),
		VertexRegion:           str("vertexRegion"),
		VertexProjectID:        str("vertexProjectId"),
		VertexAuthCluster:      str("vertexAuthServiceName"),
		DifyBotType:            str("botType"),
		HunyuanSigned:          str("hunyuanAuthId") != "" || str("hunyuanAuthKey") != "",
		VLLMCustomURL:          str("vllmCustomUrl"),
	}
	if applies("genericHost", typ) {
		if gh := r.hostValue(v, path, "genericHost"); gh != "" {
			if o.Host != "" && o.Host != gh {
				r.fail(join(path, "genericHost"), "and host differ: set one (host is this plugin's name for it)")
			}
			o.Host = gh
		}
	}
	for key, dst := range map[string]*string{"qwenDomain": &o.QwenDomain, "zhipuDomain": &o.ZhipuDomain,
		"doubaoDomain": &o.DoubaoDomain, "ollamaServerHost": &o.OllamaHost, "vllmServerHost": &o.VLLMServerHost} {
		if applies(key, typ) {
			*dst = r.hostValue(v, path, key)
		}
	}
	if applies("ollamaServerPort", typ) {
		o.OllamaPort = r.integer(v, path, "ollamaServerPort", 0, 0, 65535, false)
	}
	switch typ {
	case "claude":
		o.ClaudeVersion = orElse(str("claudeVersion"), str("apiVersion"))
	case "gemini":
		o.GeminiAPIVersion = str("apiVersion")
		if strings.ContainsAny(o.GeminiAPIVersion, "/?#") {
			r.fail(join(path, "apiVersion"), "must be a version such as v1beta, got %s", quote(o.GeminiAPIVersion))
		}
	}
	if o.AuthHeader != "" && !headerName(o.AuthHeader) {
		r.fail(join(path, "authHeader"), "must be a header name (letters, digits and !#$%%&'*+-.^_`|~), got %s", describe(v.Get("authHeader")))
	}
	if flag("claudeCodeMode", false) {
		r.fail(join(path, "claudeCodeMode"), "true is not supported: it sends a Claude Code OAuth token as Bearer with "+
			"the Claude CLI's own headers; use API keys with x-api-key (the default)")
	}
	o.Original = r.oneOf(v, path, "protocol", "openai", "openai", "original") == "original"
	if o.QwenNative && o.Original {
		r.warn(join(path, "qwenEnableCompatible"), "false has no effect with protocol original: the path and body pass as "+
			"the client sent them (as in Higress)")
	}
	if o.Original {
		// Only Higress's conversions read these (dify workflows, deepl).
		for _, k := range []string{"inputVariable", "outputVariable", "targetLang"} {
			if applies(k, typ) && !r.absent(v, path, k) {
				r.warn(join(path, k), "has no effect with protocol original: only Higress's conversion reads it")
			}
		}
	}
	r.basePath(v, path, &o)
	o.Capabilities = r.capabilities(v, path)
	return o
}

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// basePath reads basePath and basePathHandling.
func (r *reader) basePath(v gjson.Result, path string, o *provider.Options) {
	bp := r.pathValue(v, path, "basePath")
	switch h := r.str(v, path, "basePathHandling", ""); {
	case bp == "" && h != "":
		r.warn(join(path, "basePathHandling"), "has no effect without basePath")
	case bp == "":
	case h == "" || h == "removePrefix":
		o.BasePath = bp
	case h == "prepend":
		o.BasePath, o.BasePathPrepend = bp, true
	default:
		r.warn(join(path, "basePathHandling"), "%s has no effect, and basePath is not applied (Higress knows only removePrefix, the default, and prepend)", quote(h))
	}
}

// capabilities reads Higress's per-API path overrides.
func (r *reader) capabilities(v gjson.Result, path string) map[string]string {
	c, ok := r.field(v, path, "capabilities")
	if !ok {
		return nil
	}
	at := join(path, "capabilities")
	if !c.IsObject() {
		r.fail(at, "must be an object of API name: path, got %s", describe(c))
		return nil
	}
	out := map[string]string{}
	c.ForEach(func(k, p gjson.Result) bool {
		if why := provider.CapabilityUse(k.Str); why != "" {
			r.warn(join(at, k.Str), "ignored: %s", why)
			return true
		}
		if p.Type != gjson.String || headerSafe(p.Str) >= 0 {
			r.fail(join(at, k.Str), "must be a path, got %s", describe(p))
			return true
		}
		out[k.Str] = p.Str
		return true
	})
	return out
}

// hostValue reads a host[:port] field. A URL's scheme is cut, with a
// warning (Higress writes genericHost to :authority verbatim, scheme and
// all); a path is refused.
func (r *reader) hostValue(obj gjson.Result, path, key string) string {
	s := r.headerValue(obj, path, key)
	for _, scheme := range []string{"http://", "https://"} {
		if strings.HasPrefix(s, scheme) {
			r.warn(join(path, key), "a URL: %s cut, read as the host %s", scheme, quote(s[len(scheme):]))
			s = s[len(scheme):]
		}
	}
	if strings.ContainsAny(s, "/?# ") {
		r.fail(join(path, key), "must be a host or host:port, got %s", quote(s))
		return ""
	}
	return s
}

// pathValue reads a path field: it must start with '/' (a path without it
// never matches a request path, and joined in front of one makes an
// invalid path).
func (r *reader) pathValue(obj gjson.Result, path, key string) string {
	s := r.headerValue(obj, path, key)
	if s != "" && !strings.HasPrefix(s, "/") {
		r.fail(join(path, key), "must start with '/', got %s", quote(s))
		return ""
	}
	return s
}
