package configstore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
)

// MinKeyBytes is the least a config key file holds (e.g.
// `openssl rand -base64 32`).
const MinKeyBytes = 32

// LoadKey reads a config key file. Its content, surrounding whitespace
// aside, is hashed (SHA-256) into the AES-256 key, so any random text of at
// least MinKeyBytes will do. The error never shows the content.
func LoadKey(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("config key: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < MinKeyBytes {
		return nil, fmt.Errorf("config key %s: %d bytes, want at least %d", file, len(b), MinKeyBytes)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// errOpen hides why a sealed revision did not open (wrong key or
// tampering: the same to the caller).
var errOpen = errors.New("cannot open: wrong key or altered revision")

// seal encrypts plaintext with AES-256-GCM: nonce || ciphertext.
func seal(key, plaintext []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal config: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, nil), nil
}

// open reverses seal.
func open(key, sealed []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errOpen
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return nil, errOpen
	}
	return plain, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("config key: %w", err)
	}
	return cipher.NewGCM(block)
}
