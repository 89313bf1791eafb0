package credential

// Published SigV4 vectors.
//
// suite: AWS's SigV4 test suite as AWS maintains it in
// github.com/awslabs/aws-c-auth, tests/aws-signing-test-suite/v4 (commit
// 495329c), the successor of docs.aws.amazon.com/general/latest/gr/
// signature-v4-test-suite.html. Credentials AKIDEXAMPLE /
// wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1, service "service",
// 2015-08-30T12:36:00Z. Every "normalize": true case is here; the
// *-unnormalized cases are S3's rules (no normalisation, no second
// encoding), which this signer does not implement, and post-sts-header-after
// signs without the session token, which this signer always signs.
//
// iam-doc: the IAM user guide's worked example (GET iam ListUsers), with
// its published signing key and signature.
//
// botocore: Bedrock Runtime requests signed by botocore 1.43.11, AWS's own
// Python signer, as SigV4Auth(Credentials(AKIDEXAMPLE, secret, token),
// "bedrock", region).add_auth(AWSRequest("POST", url, bedrockBody, headers
// Content-Type and Accept: application/json)) with
// botocore.auth.get_current_datetime patched to 2024-05-01T12:00:00Z. No AWS
// document publishes a Bedrock signature.

const (
	suiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	suiteSTS    = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
	bedrockBody = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":64,"messages":[{"role":"user","content":"Hello"}]}`
	botoToken   = "FwoGZXIvYXdzEXAMPLEsessiontokenvalue//////////wEaDEXAMPLE+token="
)

type sigV4Vector struct {
	name, source   string
	at             string // RFC 3339
	token          string
	req            SigV4Request
	wantCanonical  string // optional
	wantAuthSuffix string // "SignedHeaders=..., Signature=..."; Credential is derived
}

func suiteReq(method, path, query string, headers ...HeaderPair) SigV4Request {
	return SigV4Request{Region: "us-east-1", Service: "service", Method: method, Path: path, Query: query,
		Headers: append([]HeaderPair{{"Host", "example.amazonaws.com"}}, headers...), PayloadHash: EmptyPayloadHash}
}

func sig(signed, signature string) string {
	return "SignedHeaders=" + signed + ", Signature=" + signature
}

const (
	vanilla     = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	postVanilla = "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
	postQuery   = "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"
	h1          = "My-Header1"
)

func sigV4Vectors() []sigV4Vector {
	const t = "2015-08-30T12:36:00Z"
	form := func(ct string) SigV4Request {
		r := suiteReq("POST", "/", "", HeaderPair{"Content-Type", ct}, HeaderPair{"Content-Length", "13"})
		r.PayloadHash, r.ContentSHA256Header = PayloadHash([]byte("Param1=value1")), true
		return r
	}
	bedrock := func(region, path string) SigV4Request {
		return SigV4Request{Region: region, Service: "bedrock", Method: "POST", Path: path,
			Headers: []HeaderPair{{":authority", "bedrock-runtime." + region + ".amazonaws.com"},
				{"content-type", "application/json"}, {"accept", "application/json"}},
			PayloadHash: PayloadHash([]byte(bedrockBody))}
	}
	converse := bedrock("eu-central-1", "/model/eu.amazon.nova-lite-v1%3A0/converse")
	converse.ContentSHA256Header = true
	return []sigV4Vector{
		{name: "get-vanilla", source: "suite", at: t, req: suiteReq("GET", "/", ""),
			wantCanonical:  "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + EmptyPayloadHash,
			wantAuthSuffix: sig("host;x-amz-date", vanilla)},
		{name: "get-vanilla-query", source: "suite", at: t, req: suiteReq("GET", "/", ""), wantAuthSuffix: sig("host;x-amz-date", vanilla)},
		{name: "get-header-key-duplicate", source: "suite", at: t,
			req:            suiteReq("GET", "/", "", HeaderPair{h1, "value2"}, HeaderPair{h1, "value2"}, HeaderPair{h1, "value1"}),
			wantAuthSuffix: sig("host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea")},
		{name: "get-header-value-multiline", source: "suite", at: t,
			req:            suiteReq("GET", "/", "", HeaderPair{h1, "value1\n  value2\n     value3"}),
			wantAuthSuffix: sig("host;my-header1;x-amz-date", "cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd")},
		{name: "get-header-value-order", source: "suite", at: t,
			req:            suiteReq("GET", "/", "", HeaderPair{h1, "value4"}, HeaderPair{h1, "value1"}, HeaderPair{h1, "value3"}, HeaderPair{h1, "value2"}),
			wantAuthSuffix: sig("host;my-header1;x-amz-date", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01")},
		{name: "get-header-value-trim", source: "suite", at: t,
			req: suiteReq("GET", "/", "", HeaderPair{h1, " value1"}, HeaderPair{"My-Header2", ` "a   b   c"`}),
			wantCanonical: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\n" +
				"host;my-header1;my-header2;x-amz-date\n" + EmptyPayloadHash,
			wantAuthSuffix: sig("host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736")},
		{name: "get-relative-normalized", source: "suite", at: t, req: suiteReq("GET", "/example/..", ""), wantAuthSuffix: sig("host;x-amz-date", vanilla)},
		{name: "get-relative-relative-normalized", source: "suite", at: t, req: suiteReq("GET", "/example1/example2/../..", ""), wantAuthSuffix: sig("host;x-amz-date", vanilla)},
		{name: "get-slash-dot-slash-normalized", source: "suite", at: t, req: suiteReq("GET", "/./", ""), wantAuthSuffix: sig("host;x-amz-date", vanilla)},
		{name: "get-slash-normalized", source: "suite", at: t, req: suiteReq("GET", "//", ""), wantAuthSuffix: sig("host;x-amz-date", vanilla)},
		{name: "get-slash-pointless-dot-normalized", source: "suite", at: t, req: suiteReq("GET", "/./example", ""),
			wantAuthSuffix: sig("host;x-amz-date", "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5")},
		{name: "get-slashes-normalized", source: "suite", at: t, req: suiteReq("GET", "//example//", ""),
			wantAuthSuffix: sig("host;x-amz-date", "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84")},
		{name: "get-space-normalized", source: "suite", at: t, req: suiteReq("GET", "/example space/", ""),
			wantAuthSuffix: sig("host;x-amz-date", "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741")},
		{name: "get-unreserved", source: "suite", at: t, req: suiteReq("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", ""),
			wantAuthSuffix: sig("host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f")},
		{name: "get-utf8", source: "suite", at: t, req: suiteReq("GET", "/\u1234", ""),
			wantAuthSuffix: sig("host;x-amz-date", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85")},
		{name: "get-vanilla-empty-query-key", source: "suite", at: t, req: suiteReq("GET", "/", "Param1=value1"),
			wantAuthSuffix: sig("host;x-amz-date", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb")},
		{name: "get-vanilla-query-order-encoded", source: "suite", at: t, req: suiteReq("GET", "/", "Param-3=Value3&Param=Value2&%E1%88%B4=Value1"),
			wantAuthSuffix: sig("host;x-amz-date", "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac")},
		{name: "get-vanilla-query-order-key-case", source: "suite", at: t, req: suiteReq("GET", "/", "Param2=value2&Param1=value1"),
			wantAuthSuffix: sig("host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")},
		{name: "get-vanilla-query-unreserved", source: "suite", at: t,
			req:            suiteReq("GET", "/", "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
			wantAuthSuffix: sig("host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197")},
		{name: "get-vanilla-utf8-query", source: "suite", at: t, req: suiteReq("GET", "/", "\u1234=bar"),
			wantAuthSuffix: sig("host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04")},
		{name: "get-vanilla-with-session-token", source: "suite", at: t, req: suiteReq("GET", "/", ""),
			token:          "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
			wantAuthSuffix: sig("host;x-amz-date;x-amz-security-token", "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8")},
		{name: "post-header-key-case", source: "suite", at: t, req: suiteReq("POST", "/", ""), wantAuthSuffix: sig("host;x-amz-date", postVanilla)},
		{name: "post-header-key-sort", source: "suite", at: t, req: suiteReq("POST", "/", "", HeaderPair{h1, "value1"}),
			wantAuthSuffix: sig("host;my-header1;x-amz-date", "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c")},
		{name: "post-header-value-case", source: "suite", at: t, req: suiteReq("POST", "/", "", HeaderPair{h1, "VALUE1"}),
			wantAuthSuffix: sig("host;my-header1;x-amz-date", "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d")},
		{name: "post-sts-header-before", source: "suite", at: t, req: suiteReq("POST", "/", ""), token: suiteSTS,
			wantAuthSuffix: sig("host;x-amz-date;x-amz-security-token", "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead")},
		{name: "post-vanilla", source: "suite", at: t, req: suiteReq("POST", "/", ""), wantAuthSuffix: sig("host;x-amz-date", postVanilla)},
		{name: "post-vanilla-empty-query-value", source: "suite", at: t, req: suiteReq("POST", "/", "Param1=value1"), wantAuthSuffix: sig("host;x-amz-date", postQuery)},
		{name: "post-vanilla-query", source: "suite", at: t, req: suiteReq("POST", "/", "Param1=value1"), wantAuthSuffix: sig("host;x-amz-date", postQuery)},
		{name: "post-x-www-form-urlencoded", source: "suite", at: t, req: form("application/x-www-form-urlencoded"),
			wantAuthSuffix: sig("content-length;content-type;host;x-amz-content-sha256;x-amz-date", "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b")},
		{name: "post-x-www-form-urlencoded-parameters", source: "suite", at: t, req: form("application/x-www-form-urlencoded; charset=utf-8"),
			wantAuthSuffix: sig("content-length;content-type;host;x-amz-content-sha256;x-amz-date", "328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422")},
		{name: "iam-list-users", source: "iam-doc", at: t,
			req: SigV4Request{Region: "us-east-1", Service: "iam", Method: "GET", Path: "/", Query: "Action=ListUsers&Version=2010-05-08",
				Headers:     []HeaderPair{{"Host", "iam.amazonaws.com"}, {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
				PayloadHash: EmptyPayloadHash},
			wantAuthSuffix: sig("content-type;host;x-amz-date", "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")},
		{name: "bedrock-invoke-model-id-with-colon", source: "botocore", at: "2024-05-01T12:00:00Z",
			req: bedrock("us-east-1", "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke"),
			wantCanonical: "POST\n/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/invoke\n\naccept:application/json\n" +
				"content-type:application/json\nhost:bedrock-runtime.us-east-1.amazonaws.com\nx-amz-date:20240501T120000Z\n\n" +
				"accept;content-type;host;x-amz-date\n9329b36c40ffa765265d99a4a0323f8b89dee097170fe4361ffb4832ef37ee8f",
			wantAuthSuffix: sig("accept;content-type;host;x-amz-date", "f5ac7cfaf731a0f49eecafddf42a364fe1f05b2159aae82a4b67879f7e51596e")},
		{name: "bedrock-stream-inference-profile-arn-session-token", source: "botocore", at: "2024-05-01T12:00:00Z", token: botoToken,
			req: bedrock("us-west-2", "/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2F"+
				"us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/invoke-with-response-stream"),
			wantAuthSuffix: sig("accept;content-type;host;x-amz-date;x-amz-security-token", "54db339b236056472f4a65078f73cc1116c6c002b781b8fbfd14a67a27e48073")},
		{name: "bedrock-converse-content-sha256-header", source: "botocore", at: "2024-05-01T12:00:00Z", req: converse,
			wantAuthSuffix: sig("accept;content-type;host;x-amz-content-sha256;x-amz-date", "bd68d5f67e9bf2bd4205559e183eccd8ba0e84030db96cbefddf2f2cd20c7a04")},
	}
}
