import Foundation
import Roles
import Testing

/// How `pstrain launch ssh` reads its host lists and what it asks ssh to run.
struct SSHPlacementTests {
    @Test func hostListsParseWithCountsAndUsers() throws {
        let hosts = try SSHHost.parseList("node1:2, alice@node2,node3:4", option: "--hosts")
        #expect(hosts == [SSHHost(destination: "node1", count: 2), SSHHost(destination: "alice@node2", count: 1),
                          SSHHost(destination: "node3", count: 4)])
        #expect(hosts[1].address == "node2")
    }

    @Test(arguments: [
        ("", "expected hosts separated by commas"),
        ("node1,,node2", "expected hosts separated by commas"),
        ("node1:0", "the count after ':' must be a whole number of at least 1"),
        ("node1:two", "the count after ':' must be a whole number of at least 1"),
        ("node1:2:3", "is not [user@]host[:count]"),
        (":2", "is not [user@]host[:count]"),
        ("-oProxyCommand=x", "is not a host name ssh can be given"),
        ("node1;rm", "is not a host name ssh can be given"),
    ])
    func malformedHostListsAreRefusedWithTheReason(text: String, reason: String) {
        #expect {
            try SSHHost.parseList(text, option: "--hosts")
        } throws: { error in
            "\(error)".contains(reason) && "\(error)".contains("--hosts")
        }
    }

    let placement = SSHPlacement(
        ssh: URL(fileURLWithPath: "/usr/bin/ssh"), setpriv: nil, options: ["Port=2222"], program: "/opt/pstrain dir/pstrain", workingDirectory: "/home/o'neil/job",
        servers: [SSHHost(destination: "ps0", count: 2)], workers: [SSHHost(destination: "u@w1", count: 2), SSHHost(destination: "w2", count: 1)],
        port: 7070, parentVariable: "PSTRAIN_LAUNCHER_PID")

    @Test func rolesAreFilledHostByHostInOrder() {
        #expect(placement.host(of: .server).destination == "ps0" && placement.host(of: .shard(1)).destination == "ps0")
        #expect([0, 1, 2].map { placement.host(of: .worker($0)).destination } == ["u@w1", "u@w1", "w2"])
        // libzmq binds addresses, not names: a named host's shards bind every interface and are reached by the name.
        #expect(placement.bindAddress(shard: 0) == "tcp://*:7070" && placement.bindAddress(shard: 1) == "tcp://*:7071")
        #expect(placement.connectAddress(reported: "tcp://0.0.0.0:7071", shard: 1) == "tcp://ps0:7071")
        #expect(placement.connectAddress(reported: "tcp://[::]:7071", shard: 1) == "tcp://ps0:7071")
        #expect(placement.hosts == ["ps0", "u@w1", "w2"])
        #expect(placement.label(of: .worker(1)) == "u@w1: worker 1")
    }

    /// ssh's 255 is named for what it is, with the role's host; a status pstrain gives needs no words from ssh.
    @Test func sshsOwnStatusIsExplained() {
        #expect(placement.meaning(ofStatus: 255, of: .worker(2))
                == "ssh's own status: a signal ended the process on w2, or the connection to it failed or was lost")
        #expect(placement.meaning(ofStatus: 1, of: .worker(2)) == nil)
        #expect(LocalPlacement(executable: URL(fileURLWithPath: "/bin/pstrain")).meaning(ofStatus: 255, of: .server) == nil)
    }

    @Test func anAddressedHostBindsItsAddress() {
        let byAddress = SSHPlacement(ssh: URL(fileURLWithPath: "/usr/bin/ssh"), setpriv: nil, options: [], program: "pstrain", workingDirectory: "/",
                                     servers: [SSHHost(destination: "root@10.1.2.3", count: 1)], workers: [SSHHost(destination: "w", count: 1)],
                                     port: nil, parentVariable: "P")
        #expect(byAddress.bindAddress(shard: 0) == "tcp://10.1.2.3:*")
        #expect(byAddress.connectAddress(reported: "tcp://10.1.2.3:40000", shard: 0) == "tcp://10.1.2.3:40000")
    }

    /// The remote command is one shell word per argument, whatever the paths contain, and tells the role the
    /// pid of its sshd session so that the session's end stops it.
    @Test func theRemoteCommandQuotesEveryWord() {
        let command = placement.command(for: .worker(2), arguments: ["worker", "--config", "/runs/a b/launch.yaml"])
        #expect(command.executable.path == "/usr/bin/ssh")
        #expect(command.arguments.prefix(2) == ["-o", "Port=2222"]) // the user's options come first: ssh keeps the first value
        #expect(command.arguments.contains("BatchMode=yes"))
        // A host that stops answering ends its connection within a minute.
        #expect(command.arguments.contains("ServerAliveInterval=15") && command.arguments.contains("ServerAliveCountMax=4"))
        #expect(command.arguments.suffix(2) == ["w2", "cd '/home/o'\\''neil/job' 2>/dev/null; exec env PSTRAIN_LAUNCHER_PID=$PPID "
                                                    + "'/opt/pstrain dir/pstrain' 'worker' '--config' '/runs/a b/launch.yaml'"])
    }

    /// Through setpriv, the kernel stops each local ssh (and so its remote role) when the launcher dies.
    @Test func withSetprivEachSSHDiesWithTheLauncher() {
        let guarded = SSHPlacement(ssh: placement.ssh, setpriv: URL(fileURLWithPath: "/usr/bin/setpriv"), options: placement.options,
                                   program: placement.program, workingDirectory: placement.workingDirectory,
                                   servers: [SSHHost(destination: "ps0", count: 2)],
                                   workers: [SSHHost(destination: "u@w1", count: 2), SSHHost(destination: "w2", count: 1)],
                                   port: 7070, parentVariable: "PSTRAIN_LAUNCHER_PID")
        let direct = placement.command(for: .shard(1), arguments: ["server"])
        let command = guarded.command(for: .shard(1), arguments: ["server"])
        #expect(command.executable.path == "/usr/bin/setpriv")
        #expect(command.arguments == ["--pdeathsig", "TERM", "--", "/usr/bin/ssh"] + direct.arguments)
    }

    /// The files a host lacks come back whole, a newline in a path included. The "ssh" here is a script that
    /// runs the remote command on this host.
    @Test func unreadableFilesAreListedWholeWhateverTheirNames() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-unreadable-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let ssh = directory.appendingPathComponent("ssh")
        try "#!/bin/sh\nwhile [ \"$1\" = -o ]; do shift 2; done\nshift\nexec sh -c \"$1\"\n".write(to: ssh, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: ssh.path)
        let present = directory.appendingPathComponent("train.csv").path
        try "0,1\n".write(toFile: present, atomically: true, encoding: .utf8)
        let here = SSHPlacement(ssh: ssh, setpriv: nil, options: [], program: "pstrain", workingDirectory: directory.path,
                                servers: [SSHHost(destination: "h", count: 1)], workers: [SSHHost(destination: "h", count: 1)],
                                port: nil, parentVariable: "PSTRAIN_LAUNCHER_PID")
        let missing = ["\(directory.path)/test\nset.csv", "relative 'quoted'.csv"]
        #expect(try here.unreadableFiles([present, "train.csv"] + missing, on: "h") == missing)
        #expect(try here.unreadableFiles([], on: "h") == [])
    }
}
