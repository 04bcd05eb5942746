import ArgumentParser
import Foundation
import Glibc

/// Server shards under ps-lite's variables, which name only the root address: the server that can take that
/// address is shard 0; every other binds its own host's address on a free port and joins shard 0 there
/// (`ShardRendezvous`).
enum ShardDiscovery {
    /// Where this server serves: the root address when it is on this host and still free, else this host's own.
    /// - Parameters:
    ///   - root: the root endpoint, `tcp://HOST:PORT`.
    ///   - nodeHost: this host's address for other shards (DMLC_NODE_HOST), if set;
    ///   - interface: else the network interface whose address that is (DMLC_INTERFACE), if set; else the address
    ///     this host reaches the root from.
    /// - Returns: the endpoint to bind, and whether it makes this server shard 0.
    static func place(root: String, nodeHost: String?, interface: String?) throws -> (bind: String, isRoot: Bool) {
        let hostPort = root.dropFirst("tcp://".count)
        guard let colon = hostPort.lastIndex(of: ":") else { throw ValidationError("\(root) is not tcp://HOST:PORT") }
        let host = String(hostPort[..<colon]), port = String(hostPort[hostPort.index(after: colon)...])
        guard let rootIP = resolve(host) else {
            throw ValidationError("DMLC_PS_ROOT_URI \(host) does not resolve to an IPv4 address here")
        }
        // Binding the root address works only on its host, and only for the first server there.
        guard let portNumber = UInt16(port) else { throw ValidationError("\(root): '\(port)' is not a port") }
        if canBind(rootIP, port: portNumber) { return ("tcp://\(rootIP):\(port)", true) }
        let own: String?
        if let nodeHost {
            guard let address = resolve(nodeHost) else { throw ValidationError("DMLC_NODE_HOST \(nodeHost) does not resolve to an IPv4 address") }
            own = address
        } else if let interface {
            own = try address(ofInterface: interface)
        } else {
            own = sourceAddress(toward: rootIP)
        }
        guard let own else {
            throw ValidationError("cannot tell this host's address toward \(rootIP): set DMLC_NODE_HOST to the address other hosts reach it at")
        }
        return ("tcp://\(own):*", false)
    }

    /// The first IPv4 address of network interface `name`; an error naming the interfaces there are otherwise.
    static func address(ofInterface name: String) throws -> String {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else {
            throw ValidationError("DMLC_INTERFACE \(name): cannot list this host's network interfaces: \(String(cString: strerror(errno)))")
        }
        defer { freeifaddrs(list) }
        var names: [String] = [], found = false
        for entry in sequence(first: list, next: { $0?.pointee.ifa_next }) {
            guard let entry else { continue }
            let entryName = String(cString: entry.pointee.ifa_name)
            if !names.contains(entryName) { names.append(entryName) }
            guard entryName == name else { continue }
            found = true
            if let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
               let text = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1, { dotted($0.pointee.sin_addr) }) {
                return text
            }
        }
        throw ValidationError(found ? "DMLC_INTERFACE \(name) has no IPv4 address: give one to it, or set DMLC_NODE_HOST to this host's address"
                                    : "DMLC_INTERFACE \(name): no such network interface here (this host has \(names.joined(separator: ", ")))")
    }

    /// Whether a TCP socket can bind `address:port` now (it is this host's, and no one listens there). A plain
    /// socket, closed at once: unlike a ZeroMQ socket's, its close frees the port before this returns.
    static func canBind(_ address: String, port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var reuse: Int32 = 1 // as libzmq sets it, so that a port in TIME_WAIT does not count as taken
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_port = port.bigEndian
        guard inet_pton(AF_INET, address, &local.sin_addr) == 1 else { return false }
        return withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// The first IPv4 address of `host` (a name or a dotted address).
    static func resolve(_ host: String) -> String? {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &found) == 0, let first = found else { return nil }
        defer { freeaddrinfo(found) }
        return first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { dotted($0.pointee.sin_addr) }
    }

    /// The local address that traffic to `address` leaves from: the name of a UDP socket connected there (which
    /// sends nothing).
    static func sourceAddress(toward address: String) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = in_port_t(9).bigEndian
        guard inet_pton(AF_INET, address, &remote.sin_addr) == 1 else { return nil }
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        var local = sockaddr_in(), length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return named == 0 ? dotted(local.sin_addr) : nil
    }

    private static func dotted(_ address: in_addr) -> String? {
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        var address = address
        guard inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil else { return nil }
        return text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
