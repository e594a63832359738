package safehttp_test

import (
	"net/netip"
	"testing"

	"github.com/atoauth/atoauth/safehttp"
)

func TestIsPublicAddr(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		// Public.
		{"1.1.1.1", true},
		{"8.8.8.8", true},
		{"93.184.215.14", true},
		{"100.63.255.255", true},  // just below CGNAT
		{"100.128.0.0", true},     // just above CGNAT
		{"172.15.255.255", true},  // just below 172.16/12
		{"172.32.0.0", true},      // just above 172.16/12
		{"198.17.255.255", true},  // just below benchmarking
		{"198.20.0.0", true},      // just above benchmarking
		{"223.255.255.255", true}, // last unicast before multicast
		{"2606:4700:4700::1111", true},
		{"2a00:1450:4001:82a::200e", true},
		{"::ffff:1.1.1.1", true},    // IPv4-mapped public
		{"64:ff9b::808:808", true},  // NAT64 wrapping 8.8.8.8
		{"2002:808:808::1", true},   // 6to4 wrapping 8.8.8.8
		{"2001:200::1", true},       // first RIR block after 2001::/23
		{"fe80::1%eth0", false},     // zone ignored, still link-local
		{"2606:4700::1%eth0", true}, // zone ignored

		// IPv4 special purpose.
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"10.0.0.1", false},
		{"10.255.255.255", false},
		{"100.64.0.1", false}, // CGNAT
		{"100.127.255.255", false},
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"169.254.169.254", false}, // cloud metadata
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.0.0.1", false},
		{"192.0.0.170", false},
		{"192.0.2.1", false},
		{"192.88.99.1", false},
		{"192.168.1.1", false},
		{"198.18.0.1", false},
		{"198.19.255.255", false},
		{"198.51.100.7", false},
		{"203.0.113.9", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},

		// IPv6 special purpose.
		{"::", false},
		{"::1", false},
		{"::127.0.0.1", false},        // IPv4-compatible (deprecated)
		{"::ffff:127.0.0.1", false},   // IPv4-mapped loopback
		{"::ffff:10.1.2.3", false},    // IPv4-mapped private
		{"::ffff:169.254.1.1", false}, // IPv4-mapped link-local
		{"64:ff9b::7f00:1", false},    // NAT64 wrapping 127.0.0.1
		{"64:ff9b::a9fe:a9fe", false}, // NAT64 wrapping 169.254.169.254
		{"64:ff9b:1::1", false},       // local-use NAT64 (RFC 8215)
		{"2002:7f00:1::1", false},     // 6to4 wrapping 127.0.0.1
		{"2002:c0a8:101::1", false},   // 6to4 wrapping 192.168.1.1
		{"100::1", false},             // discard-only
		{"2001::1", false},            // Teredo
		{"2001:2::1", false},          // benchmarking
		{"2001:db8::1", false},        // documentation
		{"3fff::1", false},            // documentation
		{"fc00::1", false},            // unique local
		{"fd12:3456::1", false},       // unique local
		{"fe80::1", false},            // link-local
		{"fec0::1", false},            // deprecated site-local
		{"ff02::1", false},            // multicast
		{"ff05::2", false},            // multicast
		{"5f00::1", false},            // SRv6 SIDs, outside 2000::/3
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.addr)
		if got := safehttp.IsPublicAddr(ip); got != tt.want {
			t.Errorf("IsPublicAddr(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if safehttp.IsPublicAddr(netip.Addr{}) {
		t.Error("IsPublicAddr(zero Addr) = true, want false")
	}
}
