package atoauth_test

import (
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) atoauth.Store { return atoauth.NewMemoryStore() })
}
