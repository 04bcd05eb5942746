import Foundation
import Glibc
import Monitoring
import Testing

/// The monitoring HTTP endpoint, spoken to over a raw TCP socket so malformed requests can be sent too.
@Suite struct HTTPEndpointTests {
    static func endpoint() throws -> HTTPEndpoint {
        let endpoint = try HTTPEndpoint(host: "127.0.0.1", port: 0) { path in
            path == "/hello" ? HTTPResponse(status: 200, text: "hello\n") : nil
        }
        endpoint.start()
        return endpoint
    }

    @Test func answersGetWithStatusLengthAndBody() throws {
        let endpoint = try Self.endpoint()
        defer { endpoint.close() }
        let reply = try RawHTTPClient.exchange(port: endpoint.port, "GET /hello?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(reply)")
        #expect(reply.contains("Content-Length: 6\r\n") && reply.contains("Connection: close\r\n"))
        #expect(reply.hasSuffix("\r\n\r\nhello\n"))
        #expect(endpoint.address == "127.0.0.1:\(endpoint.port)" && endpoint.port > 0)
    }

    @Test func headSendsTheHeadersWithoutTheBody() throws {
        let endpoint = try Self.endpoint()
        defer { endpoint.close() }
        let reply = try RawHTTPClient.exchange(port: endpoint.port, "HEAD /hello HTTP/1.0\r\n\r\n")
        #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n") && reply.contains("Content-Length: 6\r\n") && reply.hasSuffix("\r\n\r\n"), "\(reply)")
    }

    @Test(arguments: [
        ("POST /hello HTTP/1.1\r\n\r\n", "405 Method Not Allowed", "Allow: GET, HEAD"),
        ("GET /nothing HTTP/1.1\r\n\r\n", "404 Not Found", "try /metrics or /healthz"),
        ("GET /hello SPDY/3\r\n\r\n", "400 Bad Request", "not an HTTP/1.x request line"),
        ("\u{1}\u{2}\u{3} garbage\r\n\r\n", "400 Bad Request", "not an HTTP/1.x request line"),
        ("GET hello HTTP/1.1\r\n\r\n", "400 Bad Request", "not an HTTP/1.x request line"),
        ("GET /hello HTTP/1.1\r\nX-Fill: " + String(repeating: "a", count: 20000) + "\r\n\r\n", "431 Request Header Fields Too Large", "over 8192 bytes"),
    ])
    func refusesWhatItDoesNotServe(request: String, status: String, detail: String) throws {
        let endpoint = try Self.endpoint()
        defer { endpoint.close() }
        let reply = try RawHTTPClient.exchange(port: endpoint.port, request)
        #expect(reply.hasPrefix("HTTP/1.1 \(status)\r\n") && reply.contains(detail), "\(reply)")
        // It still serves afterwards.
        #expect(try RawHTTPClient.exchange(port: endpoint.port, "GET /hello HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 200 OK"))
    }

    @Test func aClientThatSendsNothingIsTimedOutAndTheNextOneServed() throws {
        let endpoint = try Self.endpoint()
        defer { endpoint.close() }
        let silent = try RawHTTPClient.connect(port: endpoint.port)
        defer { Glibc.close(silent) }
        let reply = try RawHTTPClient.exchange(port: endpoint.port, "GET /hello HTTP/1.1\r\n\r\n")
        #expect(reply.hasPrefix("HTTP/1.1 200 OK"), "served once the silent client's 2 s ran out: \(reply)")
        #expect(RawHTTPClient.readAll(silent).hasPrefix("HTTP/1.1 408 Request Timeout"))
    }

    @Test func closeReleasesThePort() throws {
        let endpoint = try Self.endpoint()
        let port = endpoint.port
        endpoint.close()
        #expect(throws: (any Error).self) { try RawHTTPClient.connect(port: port) }
        let again = try HTTPEndpoint(host: "127.0.0.1", port: port) { _ in nil }
        again.close()
    }

    @Test func aBusyPortIsAClearError() throws {
        let endpoint = try Self.endpoint()
        defer { endpoint.close() }
        let error = #expect(throws: HTTPEndpointError.self) { try HTTPEndpoint(host: "127.0.0.1", port: endpoint.port) { _ in nil } }
        #expect(error?.description == "cannot serve HTTP on 127.0.0.1:\(endpoint.port): Address already in use")
    }

    @Test(arguments: [
        ("9400", "127.0.0.1", 9400, true), ("0", "127.0.0.1", 0, true), ("0.0.0.0:9400", "0.0.0.0", 9400, false),
        ("[::1]:80", "[::1]", 80, true), ("localhost:9", "localhost", 9, true), ("10.1.2.3:9400", "10.1.2.3", 9400, false),
    ])
    func readsMetricsAddresses(text: String, host: String, port: Int, loopback: Bool) throws {
        let address = try MonitoringAddress(parsing: text)
        #expect(address.host == host && address.port == port && address.isLoopback == loopback)
    }

    @Test(arguments: ["", ":9400", "65536", "host:", "host:port", "-1"])
    func rejectsBadMetricsAddresses(text: String) {
        let error = #expect(throws: HTTPEndpointError.self) { try MonitoringAddress(parsing: text) }
        #expect(error?.description.contains("hint: write --metrics PORT (loopback) or --metrics HOST:PORT") == true)
    }
}

/// A TCP client that sends raw bytes and reads until the server closes.
enum RawHTTPClient {
    struct ConnectFailed: Error {}

    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else {
            Glibc.close(fd)
            throw ConnectFailed()
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    static func exchange(port: Int, _ request: String) throws -> String {
        let fd = try connect(port: port)
        defer { Glibc.close(fd) }
        let bytes = Array(request.utf8)
        // A server that answers early (431) may close before all is sent: that is fine, the answer is read below.
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        return readAll(fd)
    }

    static func readAll(_ fd: Int32) -> String {
        var reply = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { break }
            reply += chunk[..<n]
        }
        return String(decoding: reply, as: UTF8.self)
    }
}
