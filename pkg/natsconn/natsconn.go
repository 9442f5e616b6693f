// Package natsconn holds how a Klaxon process authenticates to NATS: the
// credentials and TLS files of the --nats.* flags, checked once and turned
// into nats.go connection options. Secrets are read from files or flags
// and never appear in an error.
package natsconn

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
)

// Credentials are the ways a client authenticates to a NATS server. At
// most one method (user and password, token, NKey, creds file) is used;
// TLS combines with any.
type Credentials struct {
	User         string
	Password     string
	PasswordFile string
	Token        string
	TokenFile    string
	// NKeySeedFile holds a user NKey seed ("SU…").
	NKeySeedFile string
	// CredsFile is a decentralized-auth .creds file (user JWT and seed).
	CredsFile string
	// TLSCAFile is the CA that signed the server's certificate; set, TLS is
	// required.
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are the client certificate for mutual TLS.
	TLSCertFile string
	TLSKeyFile  string
	// InboxPrefix replaces _INBOX for the replies to this client; a prefix
	// per user (_INBOX.dedup) lets the server's permissions keep other
	// users from subscribing to them. "" keeps _INBOX.
	InboxPrefix string
}

// ErrInvalid wraps every error about the credentials themselves.
var ErrInvalid = errors.New("invalid NATS credentials")

// Options checks the credentials, reads the secret files, and returns the
// nats.go options that authenticate with them (none when empty).
func (c Credentials) Options() ([]nats.Option, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var opts []nats.Option
	switch {
	case c.User != "":
		password, err := secret(c.Password, c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("%w: password: %w", ErrInvalid, err)
		}
		opts = append(opts, nats.UserInfo(c.User, password))
	case c.Token != "" || c.TokenFile != "":
		token, err := secret(c.Token, c.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("%w: token: %w", ErrInvalid, err)
		}
		opts = append(opts, nats.Token(token))
	case c.NKeySeedFile != "":
		opt, err := nats.NkeyOptionFromSeed(c.NKeySeedFile)
		if err != nil {
			// nats.go's error names the file, not the seed.
			return nil, fmt.Errorf("%w: nkey seed file: %w", ErrInvalid, err)
		}
		opts = append(opts, opt)
	case c.CredsFile != "":
		if _, err := os.Stat(c.CredsFile); err != nil {
			return nil, fmt.Errorf("%w: creds file: %w", ErrInvalid, err)
		}
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	for _, f := range []string{c.TLSCAFile, c.TLSCertFile, c.TLSKeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%w: tls: %w", ErrInvalid, err)
		}
	}
	if c.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(c.TLSCAFile))
	}
	if c.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(c.TLSCertFile, c.TLSKeyFile))
	}
	if c.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(c.InboxPrefix))
	}
	return opts, nil
}

// ResolvePassword returns the password, from the flag or its file; "" without
// one.
func (c Credentials) ResolvePassword() (string, error) {
	if c.Password == "" && c.PasswordFile == "" {
		return "", nil
	}
	return secret(c.Password, c.PasswordFile)
}

// check refuses contradictory or incomplete credentials.
func (c Credentials) check() error {
	methods := 0
	for _, set := range []bool{
		c.User != "" || c.Password != "" || c.PasswordFile != "",
		c.Token != "" || c.TokenFile != "",
		c.NKeySeedFile != "",
		c.CredsFile != "",
	} {
		if set {
			methods++
		}
	}
	switch {
	case methods > 1:
		return errors.New("give one of user and password, token, nkey or creds")
	case c.Password != "" && c.PasswordFile != "":
		return errors.New("give a password or a password file, not both")
	case c.Token != "" && c.TokenFile != "":
		return errors.New("give a token or a token file, not both")
	case c.User == "" && (c.Password != "" || c.PasswordFile != ""):
		return errors.New("a password needs a user")
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return errors.New("a TLS client certificate needs its key, and a key its certificate")
	}
	return nil
}

// secret is value, or the content of file without its trailing newline.
func secret(value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", file)
	}
	return s, nil
}
