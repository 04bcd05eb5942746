import CZeroMQ
import Glibc

/// When a tcp bind or connect turns libzmq's `ZMQ_IPV6` on. libzmq leaves it off, which fails `tcp://[::1]:*`
/// ("No such device") and names with only IPv6 addresses, as in an IPv6-only Kubernetes cluster. With it on,
/// libzmq resolves a name to its IPv6 address alone whenever it has one (`AF_INET6` with `AI_V4MAPPED`), so a
/// dual-stack name would miss a server listening on an IPv4 address only. Hence IPv6 is on for IPv6 addresses
/// and `*`, and for a name only when it has no IPv4 address: a host name that does not resolve to one (connect),
/// an interface without one (bind; libzmq binds interface names, not host names).
extension ZMQSocket {
    func allowIPv6(for endpoint: String, binding: Bool, on socket: UnsafeMutableRawPointer) throws(ZMQError) {
        let needsIPv6 = Self.mayUseIPv6(endpoint) { name in
            binding ? Self.interfaceHasIPv4(name) : Self.nameResolvesToIPv4(name)
        }
        var on: Int32 = needsIPv6 ? 1 : 0
        try zmqCall("setsockopt(ZMQ_IPV6)") { zmq_setsockopt(socket, ZMQ_IPV6, &on, MemoryLayout<Int32>.size) }
    }

    /// Whether `endpoint` needs IPv6: a tcp endpoint whose host is an IPv6 address, `*`, or a name for which
    /// `nameHasIPv4` is false. An IPv4 address keeps it off also because with it on libzmq reports the endpoint
    /// as IPv4-mapped IPv6 (`tcp://[::ffff:127.0.0.1]:40000`).
    static func mayUseIPv6(_ endpoint: String, nameHasIPv4: (String) -> Bool) -> Bool {
        guard let host = tcpHost(of: endpoint) else { return false }
        if host == "*" || host.hasPrefix("[") { return true }
        var address = in_addr()
        if inet_pton(AF_INET, host, &address) == 1 { return false }
        return !nameHasIPv4(host)
    }

    /// The host part of a tcp endpoint (the destination's, when a connect names a source first:
    /// `tcp://source;destination`), an IPv6 address with its brackets; nil for other transports.
    public static func tcpHost(of endpoint: String) -> String? {
        guard endpoint.hasPrefix("tcp://") else { return nil }
        let address = endpoint.dropFirst("tcp://".count)
        let destination = address.split(separator: ";").last ?? address[...]
        return String(destination[..<(destination.lastIndex(of: ":") ?? destination.endIndex)])
    }

    /// Whether the resolver finds an IPv4 address for `name`, as libzmq's connect would look it up with IPv6 off.
    static func nameResolvesToIPv4(_ name: String) -> Bool {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &found) == 0, let found else { return false }
        freeaddrinfo(found)
        return true
    }

    /// Whether the network interface `name` (as in `tcp://eth0:5555`) has an IPv4 address.
    static func interfaceHasIPv4(_ name: String) -> Bool {
        var interfaces: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&interfaces) == 0 else { return false }
        defer { freeifaddrs(interfaces) }
        var next = interfaces
        while let interface = next {
            if let address = interface.pointee.ifa_addr, Int32(address.pointee.sa_family) == AF_INET,
                String(cString: interface.pointee.ifa_name) == name
            {
                return true
            }
            next = interface.pointee.ifa_next
        }
        return false
    }
}
