package config

import (
	"errors"
	"maps"
	"slices"
)

// SNSConfig is an Amazon SNS notification: a Publish request, signed with
// SigV4, to a topic, a target (an endpoint ARN) or a phone number. The
// destinations, subject, message, attributes and the API URL are
// templates.
type SNSConfig struct {
	// SendResolved defaults to true for SNS.
	SendResolved bool              `yaml:"send_resolved" json:"send_resolved"`
	HTTPConfig   *HTTPClientConfig `yaml:"http_config,omitempty" json:"http_config,omitempty"`

	// APIURL is the SNS endpoint (default https://sns.<region>.amazonaws.com/).
	APIURL      string            `yaml:"api_url,omitempty" json:"api_url,omitempty"`
	SigV4       SigV4Config       `yaml:"sigv4" json:"sigv4"`
	TopicARN    string            `yaml:"topic_arn,omitempty" json:"topic_arn,omitempty"`
	PhoneNumber string            `yaml:"phone_number,omitempty" json:"phone_number,omitempty"`
	TargetARN   string            `yaml:"target_arn,omitempty" json:"target_arn,omitempty"`
	Subject     string            `yaml:"subject,omitempty" json:"subject,omitempty"`
	Message     string            `yaml:"message,omitempty" json:"message,omitempty"`
	Attributes  map[string]string `yaml:"attributes,omitempty" json:"attributes,omitempty"`
	// UseAWSHTTPClient is accepted for Alertmanager's files; Klaxon always
	// sends with the http_config's client.
	UseAWSHTTPClient bool `yaml:"use_aws_http_client,omitempty" json:"use_aws_http_client,omitempty"`
}

// SigV4Config is how SNS requests are signed: the region and the
// credentials (a static key pair, else the environment's
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN). Klaxon
// does not support a shared-config profile or assuming a role yet: both
// are refused at load rather than ignored.
type SigV4Config struct {
	Region             string `yaml:"region,omitempty" json:"region,omitempty"`
	AccessKey          string `yaml:"access_key,omitempty" json:"access_key,omitempty"`
	SecretKey          Secret `yaml:"secret_key,omitempty" json:"secret_key,omitempty"`
	Profile            string `yaml:"profile,omitempty" json:"profile,omitempty"`
	RoleARN            string `yaml:"role_arn,omitempty" json:"role_arn,omitempty"`
	ExternalID         string `yaml:"external_id,omitempty" json:"external_id,omitempty"`
	UseFIPSSTSEndpoint bool   `yaml:"use_fips_sts_endpoint,omitempty" json:"use_fips_sts_endpoint,omitempty"`
}

// ErrSigV4Unsupported is wrapped by the error for a sigv4 setting Klaxon
// does not support yet.
var ErrSigV4Unsupported = errors.New("not supported by Klaxon yet")

func (c *SigV4Config) validate() error {
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return errors.New("must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config")
	}
	var errs []error
	if c.Profile != "" {
		errs = append(errs, inField("profile", errors.New("a shared-config profile is "+ErrSigV4Unsupported.Error()+": set access_key and secret_key, or the AWS_* environment variables")))
	}
	if c.RoleARN != "" {
		errs = append(errs, inField("role_arn", errors.New("assuming a role is "+ErrSigV4Unsupported.Error()+": set access_key and secret_key, or the AWS_* environment variables")))
	}
	return errors.Join(errs...)
}

func (c *SNSConfig) setDefaults() {
	*c = SNSConfig{
		SendResolved: true,
		Subject:      `{{ template "sns.default.subject" . }}`,
		Message:      `{{ template "sns.default.message" . }}`,
	}
}

func (c *SNSConfig) validate() error {
	// Alertmanager's rule, kept as written: it refuses none, two of the
	// three, and accepts exactly one (or, oddly, all three).
	if (c.TargetARN == "") != (c.TopicARN == "") != (c.PhoneNumber == "") {
		return errors.New("must provide either a Target ARN, Topic ARN, or Phone Number for SNS config")
	}
	return nil
}

// SendsResolved reports send_resolved.
func (c *SNSConfig) SendsResolved() bool { return c.SendResolved }

// TemplatedFields lists the templated fields; attributes in key order,
// keys and values both.
func (c *SNSConfig) TemplatedFields() []TemplateField {
	fs := []TemplateField{
		{Path: "api_url", Src: c.APIURL},
		{Path: "topic_arn", Src: c.TopicARN},
		{Path: "phone_number", Src: c.PhoneNumber},
		{Path: "target_arn", Src: c.TargetARN},
		{Path: "subject", Src: c.Subject},
		{Path: "message", Src: c.Message},
	}
	for _, k := range slices.Sorted(maps.Keys(c.Attributes)) {
		fs = append(fs, TemplateField{Path: "attributes." + k + ".name", Src: k}, TemplateField{Path: "attributes." + k, Src: c.Attributes[k]})
	}
	return fs
}
