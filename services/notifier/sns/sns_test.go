package sns

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/pkg/logtest"
	"github.com/klaxon-alerts/klaxon/services/notifier/notification"
	nt "github.com/klaxon-alerts/klaxon/services/notifier/notifytest"
)

// The test's key pair.
const (
	accessKey = "AKIDEXAMPLE"
	secretKey = "wJalrXUtnFEMI-s3cr3t-EXAMPLEKEY"
)

const published = `<PublishResponse><PublishResult><MessageId>m-1</MessageId></PublishResult></PublishResponse>`

// newSNS is an httptest SNS that checks each request's SigV4 signature by
// signing the same request again with the SDK's signer and creds: a
// mismatch is answered as SNS does (403 SignatureDoesNotMatch).
func newSNS(t *testing.T, creds aws.Credentials) *nt.Server {
	var srv *nt.Server
	srv = nt.NewServer(t, func(w http.ResponseWriter, r nt.Request, _ int) {
		if err := verify(srv.URL, r, creds); err != nil {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>%s</Message></Error></ErrorResponse>`, err)
			return
		}
		_, _ = io.WriteString(w, published)
	})
	return srv
}

func verify(base string, r nt.Request, creds aws.Credentials) error {
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("no X-Amz-Date: %v", err)
	}
	req, _ := http.NewRequest(r.Method, base+r.Path, bytes.NewReader(r.Body))
	req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	sum := sha256.Sum256(r.Body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sns", "eu-west-1", at); err != nil {
		return err
	}
	if got, want := r.Header.Get("Authorization"), req.Header.Get("Authorization"); got != want {
		return fmt.Errorf("signature mismatch: got %q", got)
	}
	if got := r.Header.Get("X-Amz-Security-Token"); got != creds.SessionToken {
		return fmt.Errorf("security token %q", got)
	}
	return nil
}

func newNotifier(t *testing.T, receiverYAML string) (*Notifier, *logtest.Buffer) {
	t.Helper()
	return nt.Build(t, "", receiverYAML, func(r *config.Receiver) *config.SNSConfig { return r.SNSConfigs[0] }, New)
}

func form(t *testing.T, r nt.Request) url.Values {
	t.Helper()
	v, err := url.ParseQuery(string(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A signed Publish to a FIFO topic: subject, message, the attributes as
// String message attributes, the group key's hash as MessageGroupId and
// MessageDeduplicationId.
func TestPublishToFIFOTopic(t *testing.T) {
	srv := newSNS(t, aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey})
	n, _ := newNotifier(t, fmt.Sprintf(`    sns_configs:
      - api_url: %s/
        topic_arn: arn:aws:sns:eu-west-1:123456789012:alerts.fifo
        sigv4: {region: eu-west-1, access_key: %s, secret_key: %s}
        attributes:
          severity: '{{ .CommonLabels.severity }}'
          team: ops`, srv.URL, accessKey, secretKey))
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
		t.Fatal(err)
	}
	req := srv.Only(t)
	f := form(t, req)
	if f.Get("MessageGroupId") != nt.Notification().KeyHash() || f.Get("MessageDeduplicationId") != f.Get("MessageGroupId") {
		t.Errorf("FIFO ids %q %q", f.Get("MessageGroupId"), f.Get("MessageDeduplicationId"))
	}
	body, _ := json.Marshal(f)
	nt.Golden(t, "publish-fifo.json", body)
}

// Credentials from the environment, with a session token; a message over
// SMS's 1600 bytes is cut on a rune boundary and marked truncated.
func TestEnvironmentCredentialsAndSMSTruncation(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "ASIAENV", SecretAccessKey: "env-s3cr3t", SessionToken: "sess10n-t0k3n"}
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", creds.SessionToken)
	t.Setenv("AWS_REGION", "eu-west-1")
	srv := newSNS(t, creds)
	n, _ := newNotifier(t, fmt.Sprintf("    sns_configs: [{api_url: %s, phone_number: '+15555550100', message: '%s'}]", srv.URL, strings.Repeat("é", 1000)))
	if _, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); err != nil {
		t.Fatal(err)
	}
	f := form(t, srv.Only(t))
	if m := f.Get("Message"); len(m) != 1600 || m != strings.Repeat("é", 800) {
		t.Errorf("message of %d bytes", len(m))
	}
	if f.Get("MessageAttributes.entry.1.Name") != "truncated" || f.Get("MessageAttributes.entry.1.Value.StringValue") != "true" || f.Get("PhoneNumber") != "+15555550100" {
		t.Errorf("form %v", f)
	}
}

// A refusal (a wrong secret key: SignatureDoesNotMatch) is final with
// SNS's code, and the secret key is in no error or log line.
func TestRefused(t *testing.T) {
	srv := newSNS(t, aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: "the-right-one"})
	n, logs := newNotifier(t, fmt.Sprintf("    sns_configs: [{api_url: %s, target_arn: 'arn:aws:sns:eu-west-1:1:endpoint/APNS/app/x', sigv4: {region: eu-west-1, access_key: %s, secret_key: %s}}]", srv.URL, accessKey, secretKey))
	retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
	if err == nil || retryable || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("retryable %v, err %v", retryable, err)
	}
	if strings.Contains(err.Error()+logs.String(), secretKey) {
		t.Errorf("secret key leaked: %v", err)
	}
}

// SNS's throttling refusal, a 400 with the code Throttling or
// TooManyRequests, is rate-limited and retried, its text kept; another 400
// (InvalidParameter) stays final.
func TestThrottlingIsRetried(t *testing.T) {
	for code, wantRetry := range map[string]bool{"Throttling": true, "TooManyRequests": true, "ThrottledException": true, "InvalidParameter": false} {
		t.Run(code, func(t *testing.T) {
			srv := nt.NewServer(t, nt.Status(http.StatusBadRequest, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>`+code+`</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>`))
			n, logs := newNotifier(t, fmt.Sprintf("    sns_configs: [{api_url: %s, topic_arn: 'arn:aws:sns:eu-west-1:1:t', sigv4: {region: eu-west-1, access_key: %s, secret_key: %s}}]", srv.URL, accessKey, secretKey))
			retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false)))
			reason, _ := notification.FailureReason(err)
			wantReason := map[bool]string{true: notification.ReasonRateLimited, false: notification.ReasonClientError}[wantRetry]
			if err == nil || retryable != wantRetry || reason != wantReason || !strings.Contains(err.Error(), code+": Rate exceeded") {
				t.Fatalf("retryable %v (want %v), reason %q (want %q), err %v", retryable, wantRetry, reason, wantReason, err)
			}
			if strings.Contains(err.Error()+logs.String(), secretKey) {
				t.Errorf("secret key leaked: %v", err)
			}
		})
	}
}

// Without credentials or region the configuration is unusable: final.
func TestNoCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	n, _ := newNotifier(t, "    sns_configs: [{topic_arn: arn:aws:sns:eu-west-1:1:t, sigv4: {region: eu-west-1}}]")
	if retryable, err := n.Notify(t.Context(), nt.Notification(nt.Alert("web-1", false))); retryable || err == nil || !strings.Contains(err.Error(), "no AWS credentials") {
		t.Fatalf("retryable %v, err %v", retryable, err)
	}
}
