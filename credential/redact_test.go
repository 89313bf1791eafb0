package credential

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Every secret-holding value, printed every way a log line could print it,
// shows its label and nothing of what it holds.
func TestRedacted_NoVerbPrintsASecret(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	aws := must(NewAWSKey("AKIDEXAMPLE", suiteSecret, suiteSTS))
	sigv4 := must(aws.SignV4(suiteReq("GET", "/", ""), now))
	kling := must(NewKlingKey("AKexample", "SKexampleSECRET"))
	sa := must(ParseServiceAccountKey(keyFile(t, nil)))
	tokReq := must(sa.TokenRequest(now))
	access := must(ParseTokenResponse(200, []byte(`{"access_token":"ya29.SECRETTOKEN","expires_in":3599}`), now))

	secrets := []string{suiteSecret, suiteSTS, "AKIDEXAMPLE", "SKexampleSECRET", "ya29.SECRETTOKEN",
		sigv4.Pairs()[0][1], string(tokReq.Body()), kling.Token(now).Authorization()}
	for _, c := range []struct {
		name  string
		value any
		label string // a regexp
	}{
		{name: "AWSKey", value: aws, label: `^aws\([0-9a-f]{8}\)$`},
		{name: "SigV4Headers", value: sigv4, label: `^sigv4\[authorization,x-amz-date,x-amz-security-token\]$`},
		{name: "KlingKey", value: kling, label: `^kling\([0-9a-f]{8}\)$`},
		{name: "Kling token", value: kling.Token(now), label: `^bearer\([0-9a-f]{8}\)$`},
		{name: "ServiceAccountKey", value: sa, label: `^gcp-sa\([0-9a-f]{8}\)$`},
		{name: "TokenRequest", value: tokReq, label: `^POST https://oauth2\.googleapis\.com/token \(assertion redacted\)$`},
		{name: "access token", value: access, label: `^bearer\([0-9a-f]{8}\)$`},
		{name: "zero value", value: AWSKey{}, label: `^\[REDACTED\]$`},
	} {
		t.Run(c.name, func(t *testing.T) {
			label := regexp.MustCompile(c.label)
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%60v"} {
				out := fmt.Sprintf(verb, c.value)
				require.Regexp(t, label, trimPrint(out), verb)
			}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "cred", c.value)
			js, _ := json.Marshal(c.value)
			for _, s := range secrets {
				require.NotContains(t, buf.String(), s)
				require.NotContains(t, string(js), s)
			}
		})
	}
}

// trimPrint undoes padding so "%60v" compares like "%v".
func trimPrint(s string) string { return string(bytes.TrimSpace([]byte(s))) }
