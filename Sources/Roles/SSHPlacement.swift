import Foundation

/// A host of `pstrain launch ssh` as the user wrote it, `[user@]host[:count]`.
public struct SSHHost: Equatable, Sendable {
    /// What ssh is given: `host` or `user@host` (a name from ~/.ssh/config works too).
    public var destination: String
    /// How many roles of its kind this host runs.
    public var count: Int

    /// The host without the user, for addresses: the servers bind it and workers connect to what they report.
    public var address: String { destination.split(separator: "@", maxSplits: 1).last.map(String.init) ?? destination }

    /// Whether `address` is an IPv4 or bracketed IPv6 address, which libzmq can bind; it binds no host names.
    public var isAddressLiteral: Bool {
        let parts = address.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil } || address.hasPrefix("[")
    }

    public init(destination: String, count: Int) {
        self.destination = destination
        self.count = count
    }

    /// Parses `h1:2,user@h2,h3:4` (count 1 where none is given); `option` names the flag in errors.
    public static func parseList(_ text: String, option: String) throws -> [SSHHost] {
        let entries = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !entries.isEmpty, !entries.contains(where: \.isEmpty) else {
            throw LaunchError(message: "\(option) \(text): expected hosts separated by commas, each [user@]host[:count], as in node1:2,node2:2")
        }
        return try entries.map { entry in
            let parts = entry.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2, let host = parts.first, !host.isEmpty else {
                throw LaunchError(message: "\(option): '\(entry)' is not [user@]host[:count], as in node1:2")
            }
            guard !host.hasPrefix("-"), !host.contains(where: { $0.isWhitespace || "'\"\\;&|$`".contains($0) }) else {
                throw LaunchError(message: "\(option): '\(host)' is not a host name ssh can be given")
            }
            var count = 1
            if parts.count == 2 {
                guard let value = Int(parts[1]), value >= 1 else {
                    throw LaunchError(message: "\(option): '\(entry)': the count after ':' must be a whole number of at least 1, as in node1:2")
                }
                count = value
            }
            return SSHHost(destination: String(host), count: count)
        }
    }
}

/// Every role on another host, started there through the system's `ssh`, which needs key-based login without a
/// prompt (it runs with BatchMode=yes). Each role runs `program` in the launcher's working directory if that
/// exists on its host (else in the login directory). It stops at the end of its input, which ssh forwards from
/// the pipe the launcher closes to stop it (`ChildProcess.closeInput`), and when its ssh connection ends: it is
/// told the pid of its sshd session, and the kernel sends it SIGTERM when that session ends, as it does when the
/// launcher stops its local ssh, or when the launcher dies and the kernel stops that ssh (see `setpriv`).
public struct SSHPlacement: RolePlacement {
    /// The `ssh` program.
    public let ssh: URL
    /// util-linux's `setpriv`, through which each role's local ssh starts so that the kernel sends it SIGTERM when
    /// the launcher dies, even by SIGKILL; nil starts ssh directly, and a killed launcher leaves its roles running.
    public let setpriv: URL?
    /// `-o` options for every connection, before the launcher's own defaults (ssh takes the first value of each).
    public let options: [String]
    /// The path of `pstrain` on the other hosts.
    public let program: String
    /// Where roles start, if that directory exists on their host.
    public let workingDirectory: String
    /// The host of each server shard, shard 0 first.
    public let shardHosts: [SSHHost]
    /// The host of each worker, by rank.
    public let workerHosts: [SSHHost]
    /// The first port servers bind (shard k binds port + k); nil lets each pick a free one and report it.
    public let port: Int?
    /// The environment variable through which a role learns the process whose end must stop it.
    public let parentVariable: String

    /// - Parameters:
    ///   - servers: the hosts of the server shards and how many each runs, filled in shard order.
    ///   - workers: the hosts of the workers and how many each runs, ranks in order.
    public init(ssh: URL, setpriv: URL?, options: [String], program: String, workingDirectory: String, servers: [SSHHost],
                workers: [SSHHost], port: Int?, parentVariable: String) {
        self.ssh = ssh
        self.setpriv = setpriv
        self.options = options
        self.program = program
        self.workingDirectory = workingDirectory
        shardHosts = servers.flatMap { Array(repeating: SSHHost(destination: $0.destination, count: 1), count: $0.count) }
        workerHosts = workers.flatMap { Array(repeating: SSHHost(destination: $0.destination, count: 1), count: $0.count) }
        self.port = port
        self.parentVariable = parentVariable
    }

    /// Every host the job uses, each once, in the order first named.
    public var hosts: [String] {
        var seen = Set<String>()
        return (shardHosts + workerHosts).map(\.destination).filter { seen.insert($0).inserted }
    }

    public func host(of role: LaunchRole) -> SSHHost {
        switch role {
        case .server: shardHosts[0]
        case .shard(let shard): shardHosts[shard]
        case .worker(let rank): workerHosts[rank]
        }
    }

    /// The host's address when it is one; every interface when the host is a name, which libzmq cannot bind.
    public func bindAddress(shard: Int) -> String {
        let host = shardHosts[shard]
        return "tcp://\(host.isAddressLiteral ? host.address : "*"):\(port.map { String($0 + shard) } ?? "*")"
    }

    /// A shard bound to every interface reports `[::]` (or 0.0.0.0 without IPv6): workers reach it by its host's name,
    /// at the port it got.
    public func connectAddress(reported: String, shard: Int) -> String {
        let host = shardHosts[shard]
        guard !host.isAddressLiteral, let port = reported.split(separator: ":").last else { return reported }
        return "tcp://\(host.address):\(port)"
    }

    public func command(for role: LaunchRole, arguments: [String]) -> (executable: URL, arguments: [String]) {
        // $PPID is the sshd session that runs the command: its end (the launcher stopped its ssh) stops the role.
        let remote = "cd \(Self.quote(workingDirectory)) 2>/dev/null; exec env \(parentVariable)=$PPID "
            + ([program] + arguments).map(Self.quote).joined(separator: " ")
        let arguments = connectionOptions + [host(of: role).destination, remote]
        // The launcher starts its roles from the thread that runs it to the end, the one the death signal follows.
        guard let setpriv else { return (ssh, arguments) }
        return (setpriv, ["--pdeathsig", "TERM", "--", ssh.path] + arguments)
    }

    public func label(of role: LaunchRole) -> String? { "\(host(of: role).destination): \(role.name)" }

    public func resumeCommand(directory: String) -> String? { "pstrain launch ssh --resume \(directory)" }

    /// ssh exits 255 for its own failures and for a remote process that a signal ended; pstrain never does.
    public func meaning(ofStatus status: Int32, of role: LaunchRole) -> String? {
        guard status == 255 else { return nil }
        return "ssh's own status: a signal ended the process on \(host(of: role).destination), or the connection to it failed or was lost"
    }

    /// Which of `paths` `host` has no readable file at, taking relative paths from where its roles start (the
    /// working directory where it exists there, else the login directory).
    public func unreadableFiles(_ paths: [String], on host: String) throws -> [String] {
        guard !paths.isEmpty else { return [] }
        // Each listed path ends in a NUL, the one byte no path holds.
        let tests = "for f in \(paths.map(Self.quote).joined(separator: " ")); do [ -f \"$f\" ] && [ -r \"$f\" ] || printf '%s\\0' \"$f\"; done"
        let listed = try run(on: host, "cd \(Self.quote(workingDirectory)) 2>/dev/null; \(tests)", doing: "look for the data files")
        return listed.output.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Writes `archive` (a tar stream) into `directory` on `host`, creating it.
    public func unpack(_ archive: Data, into directory: String, on host: String) throws {
        try run(on: host, "mkdir -p \(Self.quote(directory)) && tar -xpf - -C \(Self.quote(directory))", input: archive,
                doing: "copy the job's files into \(directory)")
    }

    /// A tar stream of `directory` on `host`.
    public func pack(_ directory: String, on host: String) throws -> Data {
        try run(on: host, "tar -cf - -C \(Self.quote(directory)) .", doing: "read \(directory)").output
    }

    @discardableResult
    private func run(on host: String, _ command: String, input: Data = Data(), doing what: String) throws -> CapturedRun {
        let result = try CapturedRun.run(ssh, connectionOptions + [host, command], input: input)
        guard result.status == 0 else {
            let reason = result.errors.trimmingCharacters(in: .whitespacesAndNewlines)
            throw LaunchError(message: "ssh \(host): could not \(what) (status \(result.status))"
                              + (reason.isEmpty ? "" : ":\n  " + reason.replacingOccurrences(of: "\n", with: "\n  "))
                              + (result.status == 255 ? "\n  hint: `ssh \(host) true` must work without a password prompt (keys, ~/.ssh/config)" : ""))
        }
        return result
    }

    /// The user's options first (ssh keeps the first value it gets for each), then no prompts, 20 s to connect, and
    /// a connection ended when its host has not answered for a minute: a host that dies mid-job then counts as its
    /// role failing at once, not when TCP gives up, hours later.
    private var connectionOptions: [String] {
        options.flatMap { ["-o", $0] }
            + ["-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
    }

    /// `text` as one word for a POSIX shell.
    public static func quote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}
