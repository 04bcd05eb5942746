import Foundation
import Glibc

/// An answer to one HTTP request.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    public var extraHeaders: [(String, String)]

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: [UInt8], extraHeaders: [(String, String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.extraHeaders = extraHeaders
    }

    public init(status: Int, text: String) {
        self.init(status: status, body: Array(text.utf8))
    }
}

/// Why an `HTTPEndpoint` could not start.
public struct HTTPEndpointError: Error, CustomStringConvertible {
    public var description: String
}

/// A small HTTP/1.1 server for monitoring: GET and HEAD of a few paths, one request per connection, served one at
/// a time on a thread of its own. Enough for Prometheus and for health probes; nothing else is meant to use it.
///
/// Every read and write is bounded in time and size, so a client that stalls or floods delays scrapes by two
/// seconds at most and never grows memory.
public final class HTTPEndpoint: @unchecked Sendable {
    // @unchecked: the descriptors are set once in init; only the serving thread uses `listener` until `close()`.

    /// The largest request head read; a longer one is answered 431.
    static let maxRequestBytes = 8192
    static let ioTimeoutSeconds = 2

    /// The address bound, as `host:port` (the port the kernel picked when 0 was asked).
    public let address: String
    public let port: Int
    private let listener: Int32
    private let wakeRead: Int32, wakeWrite: Int32
    private let handler: @Sendable (_ path: String) -> HTTPResponse?
    private let stopped = DispatchSemaphore(value: 0)
    private var started = false
    private var closed = false

    /// Binds `host:port` (a numeric address or a name; port 0 picks a free one). `handler` answers a path
    /// (without its query), or nil for 404. Serving starts with `start()`.
    public init(host: String, port: Int, handler: @escaping @Sendable (_ path: String) -> HTTPResponse?) throws(HTTPEndpointError) {
        self.handler = handler
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let status = getaddrinfo(name, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw HTTPEndpointError(description: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var fd: Int32 = -1
        var lastError = ""
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate, fd < 0 {
            candidate = info.pointee.ai_next
            let s = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            guard s >= 0 else { lastError = String(cString: strerror(errno)); continue }
            var one: Int32 = 1
            setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(s, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 && listen(s, 16) == 0 {
                fd = s
            } else {
                lastError = String(cString: strerror(errno))
                Glibc.close(s)
            }
        }
        guard fd >= 0 else { throw HTTPEndpointError(description: "cannot serve HTTP on \(host):\(port): \(lastError)") }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let (boundHost, boundPort) = Self.describe(storage)
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else {
            Glibc.close(fd)
            throw HTTPEndpointError(description: "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        for descriptor in pipeEnds { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        listener = fd
        wakeRead = pipeEnds[0]
        wakeWrite = pipeEnds[1]
        self.port = boundPort
        address = boundHost.contains(":") ? "[\(boundHost)]:\(boundPort)" : "\(boundHost):\(boundPort)"
    }

    deinit { close() }

    /// Serves on a new thread until `close()`.
    public func start() {
        let thread = Thread { [self] in
            serve()
            stopped.signal()
        }
        thread.name = "pstrain-http"
        thread.start()
        started = true
    }

    /// Stops serving (after the request in progress) and releases the port.
    public func close() {
        guard !closed else { return }
        closed = true
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        if started { stopped.wait() }
        Glibc.close(listener)
        Glibc.close(wakeRead)
        Glibc.close(wakeWrite)
    }

    private func serve() {
        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&fds, 2, -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 || fds[1].revents != 0 { return }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            // A process started from this one must not inherit it.
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            answer(connection)
            Glibc.close(connection)
        }
    }

    private func answer(_ connection: Int32) {
        var timeout = timeval(tv_sec: Self.ioTimeoutSeconds, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let response: HTTPResponse
        var head = false
        switch readHead(connection) {
        case .closed:
            return
        case .timedOut:
            response = HTTPResponse(status: 408, text: "request head not received within \(Self.ioTimeoutSeconds) s\n")
        case .tooLarge:
            response = HTTPResponse(status: 431, text: "request head over \(Self.maxRequestBytes) bytes\n")
        case .head(let text):
            let request = Self.parseRequestLine(text)
            head = request?.method == "HEAD"
            response = request.map(respond) ?? HTTPResponse(status: 400, text: "not an HTTP/1.x request line\n")
        }
        send(response, bodyIncluded: !head, to: connection)
        lingeringClose(connection)
    }

    /// Ends the answer, then reads what the client still sends until it closes (briefly, and a bounded amount):
    /// closing with unread bytes would make the kernel reset the connection, and the client could lose the answer.
    private func lingeringClose(_ connection: Int32) {
        shutdown(connection, Int32(SHUT_WR))
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var chunk = [UInt8](repeating: 0, count: 4096)
        var drained = 0
        while drained < 1 << 16 {
            let n = recv(connection, &chunk, chunk.count, 0)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            drained += n
        }
    }

    private func respond(to request: (method: String, path: String)) -> HTTPResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            return HTTPResponse(status: 405, body: Array("only GET and HEAD are served\n".utf8), extraHeaders: [("Allow", "GET, HEAD")])
        }
        return handler(request.path) ?? HTTPResponse(status: 404, text: "no such path: \(request.path); try /metrics or /healthz\n")
    }

    /// The method and the path (query removed) of a request head, or nil when its first line is not HTTP/1.x.
    static func parseRequestLine(_ head: String) -> (method: String, path: String)? {
        // "\r\n" is one Character in Swift, a newline like "\n".
        guard let line = head.split(maxSplits: 1, omittingEmptySubsequences: false, whereSeparator: \.isNewline).first else { return nil }
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1."), parts[1].hasPrefix("/"),
              !parts[0].isEmpty, parts[0].allSatisfy({ $0.isASCII && $0.isUppercase }) else { return nil }
        let path = parts[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        return (String(parts[0]), String(path))
    }

    private enum Head { case head(String), closed, timedOut, tooLarge }

    /// Reads up to the blank line that ends the request head.
    private func readHead(_ connection: Int32) -> Head {
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 2048)
        while true {
            let n = recv(connection, &chunk, chunk.count, 0)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK ? .timedOut : .closed }
            if n == 0 { return buffer.isEmpty ? .closed : .head(String(decoding: buffer, as: UTF8.self)) }
            buffer += chunk[..<n]
            let text = String(decoding: buffer, as: UTF8.self)
            if text.contains("\r\n\r\n") || text.contains("\n\n") { return .head(text) }
            if buffer.count > Self.maxRequestBytes { return .tooLarge }
        }
    }

    private func send(_ response: HTTPResponse, bodyIncluded: Bool, to connection: Int32) {
        var head = "HTTP/1.1 \(response.status) \(Self.reason(response.status))\r\nContent-Type: \(response.contentType)\r\n"
            + "Content-Length: \(response.body.count)\r\nConnection: close\r\n"
        for (name, value) in response.extraHeaders { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if bodyIncluded { bytes += response.body }
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            sent += n
        }
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }

    private static func describe(_ storage: sockaddr_storage) -> (String, Int) {
        var storage = storage
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let length = socklen_t(storage.ss_family == sa_family_t(AF_INET6) ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        let text = { (chars: [CChar]) in chars.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }
        return (text(host), Int(text(service)) ?? 0)
    }
}
