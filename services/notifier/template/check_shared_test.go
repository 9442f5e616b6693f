package template_test

import (
	"testing"

	"github.com/klaxon-alerts/klaxon/pkg/config"
	"github.com/klaxon-alerts/klaxon/services/notifier/template"
)

// Two e-mail receivers with the default templates share one parsed html
// field; the second must not be reported undefined after the first ran
// (html/template renames escaped calls on execution).
func TestCheckTwoEmailReceiversDefaultTemplates(t *testing.T) {
	cfg, err := config.Load("../../../pkg/config/testdata/valid/email-two-receivers-default-templates.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := template.Check(cfg); err != nil {
		t.Fatal(err)
	}
}
