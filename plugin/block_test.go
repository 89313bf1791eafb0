package plugin

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/config"
	"github.com/token-failover/token-failover/provider"
)

// TestBlock_TargetAndCredentialMatchTheProvider: the block's kept answers
// (the last rewrite, each token's headers) are what the provider gives for
// every request, in any order of requests.
func TestBlock_TargetAndCredentialMatchTheProvider(t *testing.T) {
	for _, typ := range []string{"openai", "gemini", "claude", "qwen"} {
		t.Run(typ, func(t *testing.T) {
			cfg, err := config.Parse([]byte(`{"provider": {"type": "` + typ + `", "apiTokens": ["tok-a", "tok-b"],
  "modelMapping": {"*": "mapped"}}}`))
			require.NoError(t, err)
			pb := cfg.Global
			b := &block{cfg: pb}
			if provider.AuthIgnoresHead(pb.Provider) {
				b.auth = [][]provider.HeaderPair{pb.Provider.Auth(provider.Head{}, "tok-a"), pb.Provider.Auth(provider.Head{}, "tok-b")}
			}
			heads := []provider.Head{
				{Method: "POST", Authority: "gw", Path: "/v1/chat/completions"},
				{Method: "POST", Authority: "gw", Path: "/v1/chat/completions"},
				{Method: "POST", Authority: "gw", Path: "/v1beta/models/gemini-pro:generateContent"},
				{Method: "POST", Authority: "gw", Path: "/v1beta/openai/chat/completions"},
				{Method: "POST", Authority: "gw", Path: "/v1/chat/completions"},
				{Method: "GET", Authority: "gw", Path: "/v1/chat/completions"},
				{Method: "POST", Authority: "other", Path: "/v1/embeddings"},
				{},
			}
			for i, h := range heads {
				want := h
				pb.Provider.Rewrite(&want)
				if pb.Provider.ModelInPath(want.Path) {
					want.Path, _ = provider.RewritePathModel(want.Path, pb.Mapping)
				}
				got := b.target(h)
				require.Equal(t, want, got, "request %d", i)
				for tok, secret := range []string{"tok-a", "tok-b"} {
					require.Equal(t, pb.Provider.Auth(got, secret), b.credential(tok, got), "request %d token %d", i, tok)
				}
			}
		})
	}
}
