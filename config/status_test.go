package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse_Status(t *testing.T) {
	fakeEnv(t, map[string]string{"TF_ADMIN": "admin-key-from-the-environment"})
	const provider = `"provider": {"type": "openai", "apiTokens": ["sk-test-token-0001"]}`
	tests := []struct {
		name    string
		status  string // the status object, or "" for none
		path    string
		allow   []string
		admin   string
		wantErr string // a field the error names
	}{
		{name: "absent", status: ""},
		{name: "loopback by default", status: `{"path": "/tf/status"}`, path: "/tf/status", allow: []string{"127.0.0.0/8", "::1/128"}},
		{name: "addresses and prefixes", status: `{"path": "/s", "allow": ["10.1.2.3", "192.168.0.0/16", "fd00::1/8"]}`,
			path: "/s", allow: []string{"10.1.2.3/32", "192.168.0.0/16", "fd00::/8"}},
		{name: "inline admin key", status: `{"path": "/s", "adminKey": "0123456789abcdef-admin"}`, path: "/s",
			allow: []string{"127.0.0.0/8", "::1/128"}, admin: "0123456789abcdef-admin"},
		{name: "admin key from the environment", status: `{"path": "/s", "adminKey": "${env:TF_ADMIN}"}`, path: "/s",
			allow: []string{"127.0.0.0/8", "::1/128"}, admin: "admin-key-from-the-environment"},
		{name: "no path", status: `{"allow": ["127.0.0.1"]}`, wantErr: "status.path"},
		{name: "relative path", status: `{"path": "status"}`, wantErr: "status.path"},
		{name: "path with a query", status: `{"path": "/s?x=1"}`, wantErr: "status.path"},
		{name: "trailing slash", status: `{"path": "/s/"}`, wantErr: "status.path"},
		{name: "bad address", status: `{"path": "/s", "allow": ["localhost"]}`, wantErr: "status.allow[0]"},
		{name: "short admin key", status: `{"path": "/s", "adminKey": "short-secret"}`, wantErr: "status.adminKey"},
		{name: "admin key not a string", status: `{"path": "/s", "adminKey": 12345678901234567890}`, wantErr: "status.adminKey"},
		{name: "missing variable", status: `{"path": "/s", "adminKey": "${env:TF_NOT_SET}"}`, wantErr: "status.adminKey"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := `{` + provider
			if tc.status != "" {
				raw += `, "status": ` + tc.status
			}
			raw += `}`
			cfg, err := Parse([]byte(raw))
			if tc.wantErr != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.wantErr)
				for _, secret := range []string{"short-secret", "12345678901234567890", "admin-key-from"} {
					require.NotContains(t, err.Error(), secret)
				}
				return
			}
			require.NoError(t, err)
			if tc.status == "" {
				require.Nil(t, cfg.Status)
				return
			}
			require.Equal(t, tc.path, cfg.Status.Path)
			var allow []string
			for _, p := range cfg.Status.Allow {
				allow = append(allow, p.String())
			}
			require.Equal(t, tc.allow, allow)
			require.Equal(t, tc.admin, cfg.Status.AdminKey)
		})
	}
}

func TestParse_StatusAloneAndItsUnknownFields(t *testing.T) {
	cfg, err := Parse([]byte(`{"status": {"path": "/s", "alow": []}}`))
	require.NoError(t, err, "a filter may only answer the status page")
	require.Nil(t, cfg.Global)
	require.Equal(t, "/s", cfg.Status.Path)
	require.Len(t, cfg.Warnings, 1)
	require.Contains(t, cfg.Warnings[0], "status.alow")
}

func TestParse_StatusRefusedUpstream(t *testing.T) {
	_, err := Parse([]byte(`{"mode": "upstream", "provider": {"type": "openai", "apiTokens": ["sk-a"]}, "status": {"path": "/s"}}`))
	require.Error(t, err)
	require.ErrorContains(t, err, "status")
	require.True(t, strings.Contains(err.Error(), "mode: downstream"))
}

func TestStatusConfig_Allows(t *testing.T) {
	cfg, err := Parse([]byte(`{"status": {"path": "/s", "allow": ["127.0.0.1", "10.0.0.0/8", "::1"]}}`))
	require.NoError(t, err)
	s := cfg.Status
	for _, tc := range []struct {
		source string
		want   bool
	}{
		{"127.0.0.1:5555", true},
		{"127.0.0.2:5555", false},
		{"10.9.8.7:80", true},
		{"11.0.0.1:80", false},
		{"[::1]:443", true},
		{"[::ffff:127.0.0.1]:1", true}, // a v4 client on a dual-stack listener
		{"[fe80::1]:1", false},
		{"10.1.1.1", true}, // no port
		{"", false},
		{"not an address", false},
		{"/var/run/envoy.sock", false}, // a pipe: no address to allow
	} {
		require.Equal(t, tc.want, s.Allows(tc.source), tc.source)
	}
}
