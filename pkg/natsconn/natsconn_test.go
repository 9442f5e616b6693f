package natsconn_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/klaxon-alerts/klaxon/pkg/natsconn"
	"github.com/klaxon-alerts/klaxon/pkg/natsembed/natstest"
	"github.com/klaxon-alerts/klaxon/pkg/testfile"
	"github.com/klaxon-alerts/klaxon/pkg/tlstest"
)

func startServer(t *testing.T, opts *server.Options) string {
	t.Helper()
	return natstest.ServerWith(t, opts).ClientURL()
}

// connect connects with c and proves the connection works with a
// request-reply round trip through the server.
func connect(t *testing.T, url string, c natsconn.Credentials) error {
	t.Helper()
	opts, err := c.Options()
	if err != nil {
		t.Fatalf("Options: %v", err)
	}
	nc, err := nats.Connect(url, append(opts, nats.Timeout(5*time.Second))...)
	if err != nil {
		return err
	}
	defer nc.Close()
	sub, err := nc.Subscribe("ping", func(m *nats.Msg) { _ = m.Respond([]byte("pong")) })
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	reply, err := nc.Request("ping", nil, 5*time.Second)
	if err != nil {
		return err
	}
	if string(reply.Data) != "pong" {
		t.Fatalf("reply %q", reply.Data)
	}
	return nil
}

// each case: the server, the credentials it accepts, and ones it refuses.
type authCase struct {
	good, bad []natsconn.Credentials
}

func check(t *testing.T, url string, ac authCase) {
	t.Helper()
	for i, c := range ac.good {
		if err := connect(t, url, c); err != nil {
			t.Errorf("good credentials %d refused: %v", i, err)
		}
	}
	for i, c := range ac.bad {
		if err := connect(t, url, c); err == nil {
			t.Errorf("bad credentials %d accepted", i)
		}
	}
}

func TestUserPassword(t *testing.T) {
	url := startServer(t, &server.Options{Username: "klaxon", Password: "s3cret"})
	check(t, url, authCase{
		good: []natsconn.Credentials{
			{User: "klaxon", Password: "s3cret"},
			{User: "klaxon", PasswordFile: testfile.Write(t, "password", "s3cret\n")},
		},
		bad: []natsconn.Credentials{{}, {User: "klaxon", Password: "guess"}, {User: "other", Password: "s3cret"}},
	})
}

func TestToken(t *testing.T) {
	url := startServer(t, &server.Options{Authorization: "t0ken"})
	check(t, url, authCase{
		good: []natsconn.Credentials{{Token: "t0ken"}, {TokenFile: testfile.Write(t, "token", "t0ken\n")}},
		bad:  []natsconn.Credentials{{}, {Token: "guess"}},
	})
}

func TestNKey(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	url := startServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	check(t, url, authCase{
		good: []natsconn.Credentials{{NKeySeedFile: testfile.Write(t, "user.nk", string(seed))}},
		bad:  []natsconn.Credentials{{}, {NKeySeedFile: testfile.Write(t, "other.nk", string(otherSeed))}},
	})
}

// A .creds file of decentralized auth: an operator trusts an account that
// signed the user's JWT.
func TestCredsFile(t *testing.T) {
	operator, _ := nkeys.CreateOperator()
	opPub, _ := operator.PublicKey()
	account, _ := nkeys.CreateAccount()
	accPub, _ := account.PublicKey()
	accJWT, err := jwt.NewAccountClaims(accPub).Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	resolver := &server.MemAccResolver{}
	if err := resolver.Store(accPub, accJWT); err != nil {
		t.Fatal(err)
	}
	url := startServer(t, &server.Options{TrustedKeys: []string{opPub}, AccountResolver: resolver})

	creds := func(signer nkeys.KeyPair, name string) string {
		user, _ := nkeys.CreateUser()
		userPub, _ := user.PublicKey()
		seed, _ := user.Seed()
		claims := jwt.NewUserClaims(userPub)
		claims.IssuerAccount = accPub
		userJWT, err := claims.Encode(signer)
		if err != nil {
			t.Fatal(err)
		}
		b, err := jwt.FormatUserConfig(userJWT, seed)
		if err != nil {
			t.Fatal(err)
		}
		return testfile.Write(t, name, string(b))
	}
	stranger, _ := nkeys.CreateAccount()
	check(t, url, authCase{
		good: []natsconn.Credentials{{CredsFile: creds(account, "klaxon.creds")}},
		bad:  []natsconn.Credentials{{}, {CredsFile: creds(stranger, "stranger.creds")}},
	})
}

func tlsServer(t *testing.T, ca *tlstest.CA, verifyClients bool) string {
	t.Helper()
	srv := ca.Server("nats")
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: srv.CertFile, KeyFile: srv.KeyFile, CaFile: ca.CertFile, Verify: verifyClients,
	})
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, &server.Options{TLS: true, TLSConfig: tc, TLSVerify: verifyClients, TLSTimeout: 5})
}

func TestTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	url := tlsServer(t, ca, false)
	check(t, url, authCase{
		good: []natsconn.Credentials{{TLSCAFile: ca.CertFile}},
		bad:  []natsconn.Credentials{{}, {TLSCAFile: tlstest.NewCA(t).CertFile}},
	})
}

func TestMutualTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	url := tlsServer(t, ca, true)
	client := ca.Client("klaxon")
	stranger := tlstest.NewCA(t).Client("stranger")
	check(t, url, authCase{
		good: []natsconn.Credentials{{TLSCAFile: ca.CertFile, TLSCertFile: client.CertFile, TLSKeyFile: client.KeyFile}},
		bad: []natsconn.Credentials{
			{TLSCAFile: ca.CertFile},
			{TLSCAFile: ca.CertFile, TLSCertFile: stranger.CertFile, TLSKeyFile: stranger.KeyFile},
		},
	})
}

// Contradictory or incomplete credentials are refused before any
// connection, and no error shows a secret.
func TestInvalidCredentials(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]natsconn.Credentials{
		"two methods":           {User: "u", Password: "hunter2", Token: "hunter2"},
		"password and its file": {User: "u", Password: "hunter2", PasswordFile: testfile.Write(t, "p", "hunter2")},
		"password without user": {Password: "hunter2"},
		"token and its file":    {Token: "hunter2", TokenFile: testfile.Write(t, "t", "hunter2")},
		"missing password file": {User: "u", PasswordFile: filepath.Join(dir, "absent")},
		"empty token file":      {TokenFile: testfile.Write(t, "empty", "\n")},
		"missing nkey seed":     {NKeySeedFile: filepath.Join(dir, "absent.nk")},
		"malformed nkey seed":   {NKeySeedFile: testfile.Write(t, "bad.nk", "hunter2")},
		"missing creds":         {CredsFile: filepath.Join(dir, "absent.creds")},
		"cert without key":      {TLSCertFile: testfile.Write(t, "c.crt", "x")},
		"missing CA":            {TLSCAFile: filepath.Join(dir, "absent.crt")},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Options()
			if !errors.Is(err, natsconn.ErrInvalid) {
				t.Fatalf("Options() = %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}
