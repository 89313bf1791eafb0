package provider

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestToken_NeverPrintsSecret(t *testing.T) {
	tok := NewToken(2, "sk-very-secret-value")
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "token", tok)
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok), logged.String()} {
		require.NotContains(t, s, "secret")
	}
	require.Equal(t, "#2("+Fingerprint("sk-very-secret-value")+")", tok.String())
	require.Len(t, tok.Fingerprint, 8)
}
