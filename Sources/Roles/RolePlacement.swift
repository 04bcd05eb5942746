import Foundation

/// A process of a launched job.
public enum LaunchRole: Equatable, Sendable {
    /// The server: shard 0 when the job has several.
    case server
    /// A server shard other than 0.
    case shard(Int)
    case worker(Int)

    /// "server", "server shard 2", "worker 3".
    public var name: String {
        switch self {
        case .server: "server"
        case .shard(let index): "server shard \(index)"
        case .worker(let rank): "worker \(rank)"
        }
    }

    public var isWorker: Bool {
        if case .worker = self { return true }
        return false
    }
}

/// Where a launcher's roles run, and how each is started there.
public protocol RolePlacement {
    /// The endpoint server shard `shard` binds; a `*` port makes it pick one and report it.
    func bindAddress(shard: Int) -> String
    /// The endpoint other roles connect to, given the one shard `shard` reported when it bound.
    func connectAddress(reported: String, shard: Int) -> String
    /// The program and arguments that run `pstrain` with `arguments` for `role`.
    func command(for role: LaunchRole, arguments: [String]) -> (executable: URL, arguments: [String])
    /// How output and messages name the role when it runs elsewhere ("worker 3 on node2"), with its output then
    /// echoed line by line under that label; nil on this host, where workers' output only goes to their logs.
    func label(of role: LaunchRole) -> String?
    /// The command that continues a stopped run in `directory`, when this placement can.
    func resumeCommand(directory: String) -> String?
    /// What exit status `status` of `role`'s process means when it comes from the way the role is started rather
    /// than from pstrain (ssh's 255), for the message that reports it; nil otherwise.
    func meaning(ofStatus status: Int32, of role: LaunchRole) -> String?
}

/// Every role a child process of this one, on this host, serving loopback.
public struct LocalPlacement: RolePlacement {
    /// The `pstrain` binary to run: this process's own.
    public let executable: URL

    public init(executable: URL) { self.executable = executable }

    public func bindAddress(shard: Int) -> String { "tcp://127.0.0.1:*" }

    public func connectAddress(reported: String, shard: Int) -> String { reported }

    public func command(for role: LaunchRole, arguments: [String]) -> (executable: URL, arguments: [String]) { (executable, arguments) }

    public func label(of role: LaunchRole) -> String? { nil }

    public func resumeCommand(directory: String) -> String? { "pstrain launch --resume \(directory)" }

    public func meaning(ofStatus status: Int32, of role: LaunchRole) -> String? { nil }
}
