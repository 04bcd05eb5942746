import ArgumentParser
import Foundation

/// Checks the endpoints given to --bind, --connect and --other-shards before ZeroMQ sees them: it refuses
/// `127.0.0.1:5555`, the way most tools write an address, with only "Invalid argument (errno 22)".
enum EndpointArgument {
    /// Refuses each comma-separated endpoint in `list` that names no transport.
    static func check(_ list: String?, flag: String) throws {
        for endpoint in (list ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if let problem = problem(with: endpoint) { throw ValidationError("\(flag): \(problem)") }
        }
    }

    /// What is wrong with `endpoint`, with the endpoint meant where it can be told; nil when it names a transport.
    static func problem(with endpoint: String) -> String? {
        guard !endpoint.contains("://") else { return nil }
        if let meant = tcpMeant(by: endpoint) { return "'\(endpoint)' names no transport: write \(meant)" }
        return "'\(endpoint)' is not an endpoint: write tcp://HOST:PORT or ipc://PATH"
    }

    /// The TCP endpoint that HOST:PORT (or HOST:*) without a transport means; nil for anything else.
    static func tcpMeant(by text: String) -> String? {
        guard !text.contains("://"), let colon = text.lastIndex(of: ":"), colon != text.startIndex else { return nil }
        let port = text[text.index(after: colon)...]
        return port == "*" || (!port.isEmpty && port.allSatisfy(\.isASCII) && port.allSatisfy(\.isNumber)) ? "tcp://\(text)" : nil
    }
}
