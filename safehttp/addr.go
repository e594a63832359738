package safehttp

import "net/netip"

// The tables below are never modified after package initialisation.

// forbiddenV4 lists the IPv4 ranges that are not globally reachable unicast
// space (IANA IPv4 Special-Purpose Address Registry, RFC 6890 and successors).
var forbiddenV4 = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network" (RFC 791)
	netip.MustParsePrefix("10.0.0.0/8"),      // private (RFC 1918)
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space, CGNAT (RFC 6598)
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback (RFC 1122)
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local (RFC 3927)
	netip.MustParsePrefix("172.16.0.0/12"),   // private (RFC 1918)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments (RFC 6890)
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation TEST-NET-1 (RFC 5737)
	netip.MustParsePrefix("192.88.99.0/24"),  // deprecated 6to4 relay anycast (RFC 7526)
	netip.MustParsePrefix("192.168.0.0/16"),  // private (RFC 1918)
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking (RFC 2544)
	netip.MustParsePrefix("198.51.100.0/24"), // documentation TEST-NET-2 (RFC 5737)
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation TEST-NET-3 (RFC 5737)
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast (RFC 5771)
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved and limited broadcast (RFC 1112, RFC 919)
}

var (
	// globalUnicastV6 is the only IPv6 block allocated for global unicast
	// (RFC 4291 §2.4); everything outside it (loopback, unspecified, ULA
	// fc00::/7, link-local fe80::/10, multicast ff00::/8, discard 100::/64,
	// IPv4-compatible ::/96, ...) is refused.
	globalUnicastV6 = netip.MustParsePrefix("2000::/3")
	// nat64V6 is the NAT64 well-known prefix (RFC 6052); the embedded IPv4
	// address decides.
	nat64V6 = netip.MustParsePrefix("64:ff9b::/96")
	// sixToFourV6 is 6to4 (RFC 3056); the embedded IPv4 address decides.
	sixToFourV6 = netip.MustParsePrefix("2002::/16")
)

// forbiddenV6 lists special-purpose blocks inside 2000::/3 (IANA IPv6
// Special-Purpose Address Registry).
var forbiddenV6 = []netip.Prefix{
	netip.MustParsePrefix("2001::/23"),     // IETF protocol assignments: Teredo, benchmarking, ORCHID (RFC 2928)
	netip.MustParsePrefix("2001:db8::/32"), // documentation (RFC 3849)
	netip.MustParsePrefix("3fff::/20"),     // documentation (RFC 9637)
}

// IsPublicAddr reports whether ip is a globally reachable unicast address that
// a client may connect to when following URLs chosen by others.
//
// It returns false for the zero Addr; for loopback, unspecified, private
// (RFC 1918, unique local fc00::/7), link-local, multicast, shared (CGNAT
// 100.64.0.0/10), "this network" (0.0.0.0/8), IETF protocol assignment
// (192.0.0.0/24, 2001::/23), benchmarking (198.18.0.0/15), documentation
// and reserved (240.0.0.0/4) addresses; and for IPv4-mapped, NAT64
// (64:ff9b::/96) and 6to4 (2002::/16) IPv6 addresses that embed any of
// those IPv4 addresses. Zones are ignored.
func IsPublicAddr(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.WithZone("").Unmap()
	if ip.Is4() {
		for _, p := range forbiddenV4 {
			if p.Contains(ip) {
				return false
			}
		}
		return true
	}
	b := ip.As16()
	switch {
	case nat64V6.Contains(ip):
		return IsPublicAddr(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFourV6.Contains(ip):
		return IsPublicAddr(netip.AddrFrom4([4]byte(b[2:6])))
	case !globalUnicastV6.Contains(ip):
		return false
	}
	for _, p := range forbiddenV6 {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
