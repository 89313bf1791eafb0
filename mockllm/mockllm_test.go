package mockllm

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestServer_ScriptsTokensAndRecords(t *testing.T) {
	s := New()
	addr, err := s.Start("127.0.0.1:0")
	require.NoError(t, err)
	defer s.Close()
	post := func(token, body string) (*http.Response, error) {
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		return http.DefaultClient.Do(req)
	}
	s.Set("bad", Behaviour{Status: 429, RetryAfter: 2})
	s.Set("gone", Behaviour{Reset: true})
	tests := []struct {
		name, token, body string
		status            int
		contains          string
	}{
		{"healthy", "good", `{"model":"m1"}`, 200, `"model":"m1"`},
		{"streaming", "good", `{"model":"m1","stream":true}`, 200, "data: [DONE]"},
		{"rate limited", "bad", `{"model":"m1"}`, 429, "mock status 429"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := post(tc.token, tc.body)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			require.Equal(t, tc.status, resp.StatusCode)
			require.Contains(t, string(b), tc.contains)
			if tc.status == 429 {
				require.Equal(t, "2", resp.Header.Get("Retry-After"))
			}
		})
	}
	_, err = post("gone", `{}`)
	require.Error(t, err, "reset closes the connection")
	_, err = post("good", `{"model":"x","max_tokens":1,"messages":[{"role":"user","content":"ping"}]}`)
	require.NoError(t, err)
	since := time.Now().Add(-time.Minute)
	require.Equal(t, 2, s.Count("good", false, since))
	require.Equal(t, 1, s.Count("good", true, since))
	require.Equal(t, 1, s.Count("bad", false, since))
	for _, r := range s.Records() {
		require.Empty(t, r.SNI, "plain HTTP has no SNI")
		require.Equal(t, addr, r.Host)
	}
}

func TestServer_FailEvery(t *testing.T) {
	s := New()
	addr, err := s.Start("127.0.0.1:0")
	require.NoError(t, err)
	defer s.Close()
	s.Set("flaky", Behaviour{FailEvery: 3})
	var got []int
	for i := 0; i < 7; i++ {
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/chat/completions", strings.NewReader(`{"model":"m"}`))
		req.Header.Set("Authorization", "Bearer flaky")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	require.Equal(t, []int{200, 200, 500, 200, 200, 500, 200}, got)
}
