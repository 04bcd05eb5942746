import Foundation
import Roles
import Testing

/// Private hosts (`NetworkHosts`) that each run a real OpenSSH server, with the test's own host and client keys,
/// and a filesystem of their own under `runs`: there a tmpfs hides the launcher's files, as a separate machine's
/// disk would, while the pstrain binary and the package stay visible, as an installed binary and a shared
/// checkout would.
final class SSHHosts {
    let hosts: NetworkHosts
    /// Holds the keys and sshd configs (seen by every host) and `runs` (each host's own).
    let root: String
    var runs: String { "\(root)/runs" }

    static let sshd = "/usr/sbin/sshd"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: sshd) && NetworkHosts.canCreate }

    /// `count` hosts; those in `serving` run sshd.
    init(count: Int, serving: [Int]) throws {
        hosts = try NetworkHosts(count: count)
        root = FileManager.default.temporaryDirectory.appendingPathComponent("pstrain-ssh-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(root)/runs", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true) // sshd's privilege separation
        for key in ["host", "client"] {
            let made = try PSTrainProcess.run(executable: URL(fileURLWithPath: "/usr/bin/ssh-keygen"),
                                              ["-q", "-t", "ed25519", "-N", "", "-f", "\(root)/\(key)"], timeout: 30)
            try #require(made.status == 0, "ssh-keygen: \(made.stderr)")
        }
        try FileManager.default.copyItem(atPath: "\(root)/client.pub", toPath: "\(root)/authorized_keys")
        // Host names, as machines have: `ip netns exec` shows /etc/netns/NS/hosts as /etc/hosts inside NS.
        let names = (0 ..< count).map { "\(hosts.address($0)) \(Self.name($0))" }.joined(separator: "\n") + "\n"
        for host in 0 ..< count {
            try FileManager.default.createDirectory(atPath: "/etc/netns/\(hosts.namespace(host))", withIntermediateDirectories: true)
            try names.write(toFile: "/etc/netns/\(hosts.namespace(host))/hosts", atomically: true, encoding: .utf8)
        }
        for host in serving {
            let config = """
                ListenAddress \(hosts.address(host))
                HostKey \(root)/host
                AuthorizedKeysFile \(root)/authorized_keys
                StrictModes no
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                PermitRootLogin prohibit-password
                UsePAM no
                PidFile \(root)/sshd-\(host).pid
                """
            try config.write(toFile: "\(root)/sshd-\(host).conf", atomically: true, encoding: .utf8)
            // sshd detaches once it listens, so its start has finished when this returns; the tmpfs is mounted in
            // the namespace's own mount namespace, which the daemon and its sessions keep.
            let started = try PSTrainProcess.run(
                executable: URL(fileURLWithPath: "/usr/sbin/ip"),
                ["netns", "exec", hosts.namespace(host), "sh", "-c",
                 "mount -t tmpfs pstrain-test \(runs) && exec \(Self.sshd) -f \(root)/sshd-\(host).conf -E \(sshdLog(on: host))"],
                timeout: 30)
            try #require(started.status == 0, "sshd on host \(host): \(started.stderr)")
        }
    }

    deinit { remove() }

    /// Stops everything on these hosts (sshd, its sessions, pstrain) and removes their files; see `NetworkHosts`.
    func remove() {
        hosts.remove()
        try? FileManager.default.removeItem(atPath: root)
        for host in 0 ..< hosts.count { try? FileManager.default.removeItem(atPath: "/etc/netns/\(hosts.namespace(host))") }
    }

    /// Where host `host`'s sshd writes its log.
    func sshdLog(on host: Int) -> String { "\(root)/sshd-\(host).log" }

    /// Host `host`'s name on every host.
    static func name(_ host: Int) -> String { "pstrain-host\(host)" }

    /// The `--ssh-option`s that log in with the test's client key and trust the test's hosts.
    var sshOptions: [String] {
        ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR", "IdentityFile=\(root)/client"]
            .flatMap { ["--ssh-option", $0] }
    }

    /// Where a launch from `startLaunch` writes its standard error.
    var launchLog: String { "\(root)/launch.stderr" }

    /// Starts `pstrain launch ssh --insecure` with `arguments` from host 0, into `runs/job`.
    func startLaunch(_ arguments: [String]) throws -> PSTrainProcess.Running {
        try PSTrainProcess.start(["launch", "ssh", "--insecure", "--run-dir", "\(runs)/job"] + sshOptions + arguments,
                                 stderrPath: launchLog, namespace: hosts.namespace(0))
    }

    /// Runs `startLaunch(arguments)`; expects it to fail within 120 s, and returns what it wrote to standard error.
    func failedLaunch(_ arguments: [String]) throws -> String {
        let launch = try startLaunch(arguments)
        defer { launch.stop() }
        let status = launch.wait(timeout: 120)
        let log = PSTrainProcess.log(launchLog)
        #expect(status == 1, "\(log)")
        return log
    }

    /// Kills (SIGKILL) the pstrain process on host `host` whose arguments hold `flag` followed by `value`.
    func killPSTrain(on host: Int, with flag: String, _ value: String) throws {
        let pid = try #require(try pstrainProcesses(on: host).first { pid in
            ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").contains("\(flag)\u{0}\(value)\u{0}")
        }, "no pstrain \(flag) \(value) is running on host \(host)")
        kill(pid_t(pid)!, SIGKILL)
    }

    /// The digits test set in the package, which every host sees.
    /// The digits' file `name` (`train.csv`, `test.csv`) in the package every host sees.
    static func digits(_ name: String) -> String { PSTrainProcess.packageRoot.appendingPathComponent("Tests/Fixtures/digits/\(name)").path }

    /// Copies the digits' file `name` to `runs/data/` on the launcher's host (host 0) alone, and returns that path.
    func digitsOnTheLauncherHost(_ name: String) throws -> String {
        let copy = "\(runs)/data/\(name)"
        try FileManager.default.createDirectory(atPath: "\(runs)/data", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.digits(name), toPath: copy)
        return copy
    }

    /// Runs `command` in a shell on host `host`, through ssh from host 0, as the launcher reaches it: what it
    /// writes under `runs` lands on that host's own disk.
    func shell(on host: Int, _ command: String) throws {
        let options = sshOptions.filter { $0 != "--ssh-option" }.flatMap { ["-o", $0] }
        let ran = try PSTrainProcess.run(executable: URL(fileURLWithPath: "/usr/sbin/ip"),
                                         ["netns", "exec", hosts.namespace(0), "ssh"] + options + [hosts.address(host), command], timeout: 30)
        try #require(ran.status == 0, "ssh \(hosts.address(host)) \(command): \(ran.stderr)")
    }

    /// Expects every pstrain process on hosts `hosts` to end within `seconds`; one left running is described, with
    /// those hosts' sshd logs.
    func expectNoPSTrainLeft(on hosts: [Int], within seconds: TimeInterval) {
        let allGone = PSTrainProcess.waitFor(timeout: seconds) {
            hosts.allSatisfy { ((try? pstrainProcesses(on: $0)) ?? ["?"]).isEmpty }
        }
        #expect(allGone, """
            still running:
            \(describePSTrainProcesses(on: hosts))
            \(hosts.map { "sshd on host \($0):\n\(PSTrainProcess.log(sshdLog(on: $0)))" }.joined(separator: "\n"))
            """)
    }

    /// Each pstrain process on hosts `hosts`, with its state, parent and what each of its threads waits in, for
    /// a failure message.
    private func describePSTrainProcesses(on hosts: [Int]) -> String {
        hosts.flatMap { host in
            ((try? pstrainProcesses(on: host)) ?? []).map { pid in
                let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
                let fields = status.split(separator: "\n").filter { $0.hasPrefix("State:") || $0.hasPrefix("PPid:") }
                let command = ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").replacingOccurrences(of: "\u{0}", with: " ")
                let threads = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).map { task in
                    let name = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8)) ?? "?"
                    let waits = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/wchan", encoding: .utf8)) ?? "?"
                    return "\(name.trimmingCharacters(in: .whitespacesAndNewlines)) in \(waits)"
                }
                return "host \(host), pid \(pid) (\(fields.joined(separator: ", "))): \(command)\n  threads: \(threads.joined(separator: "; "))"
            }
        }.joined(separator: "\n")
    }

    /// The pids of pstrain processes in host `host`'s namespace.
    func pstrainProcesses(on host: Int) throws -> [String] {
        let listed = try PSTrainProcess.run(executable: URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "pids", hosts.namespace(host)], timeout: 10)
        return listed.stdout.split(separator: "\n").map(String.init).filter { pid in
            ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").hasPrefix("pstrain")
        }
    }
}

/// `pstrain launch ssh` from one private host to three others through real sshd: server shards and workers
/// placed by --servers-on and --hosts, keys and config copied over, output streamed with host prefixes, the run
/// copied back; and a stopped launcher stopping every remote process.
@Suite(.serialized, .enabled(if: SSHHosts.available, "needs root (network namespaces) and OpenSSH's sshd; scripts/test installs it"))
struct SSHLaunchTests {
    let config = ["--config", "configs/digits-mlp.yaml", "train.batch_size=10"]

    /// The shards' hosts are given by name (bound on every interface, reached by the name), the workers' by address.
    /// Shard 0 and every worker serve metrics on their hosts.
    @Test func trainsWithShardsAndWorkersOnThreeHosts() throws {
        let ssh = try SSHHosts(count: 4, serving: [1, 2, 3])
        defer { ssh.remove() }
        let (h1, h2, h3) = (SSHHosts.name(1), ssh.hosts.address(2), ssh.hosts.address(3))
        let dir = "\(ssh.runs)/job"
        let launch = try PSTrainProcess.start(["launch", "ssh", "--hosts", "\(h2):2,\(h3)", "--servers-on", "\(h1),\(SSHHosts.name(2))", "--curve"]
                                              + ssh.sshOptions + ["--run-dir", dir, "--metrics", "0", "--worker-metrics", "0"] + config,
                                              stderrPath: "\(ssh.root)/launch.stderr", namespace: ssh.hosts.namespace(0))
        defer { launch.stop() }
        let status = launch.wait(timeout: 400)
        let log = PSTrainProcess.log("\(ssh.root)/launch.stderr")
        try #require(status == 0, "\(log)")
        // Copied back from shard 0's host, whose run directory this host cannot see.
        let summary = try PSTrainProcess.summary(in: dir)
        #expect(summary["servers"] as? Int == 2 && summary["workers"] as? Int == 3)
        #expect(try #require(summary["test_accuracy"] as? Double) >= 0.97, "\(summary)")
        #expect(FileManager.default.fileExists(atPath: "\(dir)/metrics.csv"))
        for line in ["[\(h1): server] pstrain server: serving every interface, port", "server at tcp://\(h1):",
                     "[\(SSHHosts.name(2)): server shard 1] ",
                     "[\(h2): worker 0] worker 0: registered", "[\(h2): worker 1] ", "[\(h3): worker 2] worker 2: registered",
                     "[\(h1): server] metrics on http://127.0.0.1:", "[\(h2): worker 1] metrics on http://127.0.0.1:",
                     "[\(h3): worker 2] metrics on http://127.0.0.1:"] {
            #expect(log.contains(line), "no '\(line)' in:\n\(log)")
        }
        // Each host got only its roles' keys.
        #expect(log.contains("\(h1): copied launch.yaml, keys/server.key, keys/server.key_secret, keys/clients into"))
        #expect(log.contains("\(h3): copied launch.yaml, keys/server.key, keys/worker.key, keys/worker.key_secret into"))
        #expect(log.contains("\(h2): copied launch.yaml, keys/server.key, keys/worker.key, keys/worker.key_secret into"))
        #expect(log.contains("\(SSHHosts.name(2)): copied launch.yaml, keys/server.key, keys/server.key_secret, keys/clients into"))
        #expect(PSTrainProcess.log("\(dir)/worker-2.log").contains("worker 2: done after"))
    }

    /// Server shard 1 killed on its host: the launcher starts it again there at its endpoint and shard 0 from the
    /// latest checkpoint on its own host, the new shard 0 waiting for the port the old one frees as it stops.
    @Test func aKilledShardComesBackOnItsHost() throws {
        let ssh = try SSHHosts(count: 3, serving: [1, 2])
        defer { ssh.remove() }
        let (h1, h2) = (SSHHosts.name(1), SSHHosts.name(2))
        let dir = "\(ssh.runs)/job"
        let launch = try ssh.startLaunch(["--hosts", "\(h2):2", "--servers-on", "\(h1),\(h2)"] + config
                                         + ["train.epochs=20", "train.checkpoint_every=50"])
        defer { launch.stop() }
        let progress = ssh.launchLog
        try #require(PSTrainProcess.waitFor(timeout: 120) { PSTrainProcess.log(progress).contains("epoch 3/20") }, "\(PSTrainProcess.log(progress))")
        try ssh.killPSTrain(on: 2, with: "--shard", "1")
        let status = launch.wait(timeout: 300)
        let log = PSTrainProcess.log(progress)
        try #require(status == 0, "\(log)")
        #expect(log.contains("pstrain launch: \(h2): server shard 1 failed with status"), "\(log)")
        #expect(log.contains("restarting it at its endpoint, and the server from the latest checkpoint"), "\(log)")
        // The workers registered again with the new servers by themselves: none waited out its server timeout.
        #expect(!log.contains("worker 0 failed") && !log.contains("worker 1 failed"), "\(log)")
        let summary = try PSTrainProcess.summary(in: dir)
        let resumedFrom = try #require(summary["resumed_from_step"] as? Int, "\(log)")
        #expect(resumedFrom >= 150 && resumedFrom % 50 == 0 && summary["steps"] as? Int == 20 * 72, "\(summary)")
        #expect(try #require(summary["test_accuracy"] as? Double) >= 0.95, "\(summary)")
    }

    /// A worker killed on its host is seen at once, while the server's ssh runs on, and started again there; the
    /// job ends as it should. (Foundation's Process, which the launcher used before, saw no exit of any role until
    /// the first role's ssh had ended: ssh closes the descriptor Foundation watches.)
    @Test func aKilledWorkerComesBackOnItsHost() throws {
        let ssh = try SSHHosts(count: 3, serving: [1, 2])
        defer { ssh.remove() }
        let (h1, h2) = (ssh.hosts.address(1), ssh.hosts.address(2))
        let dir = "\(ssh.runs)/job"
        let launch = try ssh.startLaunch(["--hosts", "\(h2):2", "--servers-on", h1] + config + ["train.epochs=20"])
        defer { launch.stop() }
        let progress = ssh.launchLog
        try #require(PSTrainProcess.waitFor(timeout: 120) { PSTrainProcess.log(progress).contains("epoch 3/20") }, "\(PSTrainProcess.log(progress))")
        try ssh.killPSTrain(on: 2, with: "--rank", "1")
        try #require(PSTrainProcess.waitFor(timeout: 60) { PSTrainProcess.log(progress).contains("\(h2): worker 1 failed with status") },
                     "the launcher did not see worker 1 end:\n\(PSTrainProcess.log(progress))")
        let status = launch.wait(timeout: 300)
        let log = PSTrainProcess.log(progress)
        try #require(status == 0, "\(log)")
        #expect(log.contains("pstrain launch: \(h2): worker 1 failed with status 255 (ssh's own status: a signal ended the process on \(h2), "
                             + "or the connection to it failed or was lost); restarting it (1 of 3)"), "\(log)")
        #expect(log.components(separatedBy: "[\(h2): worker 1] worker 1: registered").count - 1 == 2, "registered again:\n\(log)")
        let summary = try PSTrainProcess.summary(in: dir)
        #expect(summary["steps"] as? Int == 20 * 72, "\(summary)")
        #expect(try #require(summary["test_accuracy"] as? Double) >= 0.95, "\(summary)")
    }

    /// A host that vanishes mid-job (its link cut, as when a machine loses power or its network) ends its role's
    /// ssh once ssh's keep-alive goes unanswered, and that counts as the role failing: here the last worker, so
    /// the launch ends, long before the server would miss the worker's heartbeats (cluster.heartbeat_timeout).
    @Test func aHostThatVanishesEndsItsRoleThroughSSHsKeepAlive() throws {
        let ssh = try SSHHosts(count: 3, serving: [1, 2])
        defer { ssh.remove() }
        let (h1, h2) = (ssh.hosts.address(1), ssh.hosts.address(2))
        // The launcher's keep-alive (15 s, 4 unanswered) made short; the user's options come first and win.
        let keepAlive = ["--ssh-option", "ServerAliveInterval=1", "--ssh-option", "ServerAliveCountMax=2"]
        let launch = try ssh.startLaunch(keepAlive + ["--hosts", h2, "--servers-on", h1] + config
                                         + ["train.epochs=500", "cluster.heartbeat_timeout=600", "cluster.max_restarts=0"])
        defer { launch.stop() }
        let progress = ssh.launchLog
        try #require(PSTrainProcess.waitFor(timeout: 120) { PSTrainProcess.log(progress).contains("worker 0: registered") },
                     "\(PSTrainProcess.log(progress))")
        try ssh.hosts.disconnect(2)
        let status = launch.wait(timeout: 60)
        let log = PSTrainProcess.log(progress)
        #expect(status == 1, "\(log)")
        #expect(log.contains("\(h2): worker 0 failed with status 255 (ssh's own status: a signal ended the process on \(h2), "
                             + "or the connection to it failed or was lost); it was the last worker left"), "\(log)")
    }

    /// A role that cannot start on its host ends the launch, with the host's own words and the log to read.
    @Test func aRoleThatCannotStartEndsTheLaunchWithItsReason() throws {
        let ssh = try SSHHosts(count: 2, serving: [1])
        defer { ssh.remove() }
        let h1 = ssh.hosts.address(1)
        let dir = "\(ssh.runs)/job"
        let launch = try PSTrainProcess.start(["launch", "ssh", "--hosts", h1, "--insecure", "--remote-pstrain", "/nonexistent/pstrain"]
                                              + ssh.sshOptions + ["--run-dir", dir] + config,
                                              stderrPath: "\(ssh.root)/launch.stderr", namespace: ssh.hosts.namespace(0))
        defer { launch.stop() }
        #expect(launch.wait(timeout: 120) == 1)
        let log = PSTrainProcess.log("\(ssh.root)/launch.stderr")
        #expect(log.contains("[\(h1): server] ") && log.contains("/nonexistent/pstrain"), "\(log)")
        #expect(log.contains("the \(h1): server did not report its endpoint; it exited with status 127; see \(dir)/server.log"), "\(log)")
    }

    /// A host that cannot read the files its roles read stops the launch before any role starts, and the message
    /// names each such host with the files it lacks: a server's host needs the training and test files, a worker's
    /// only the training file. Both files lie under `runs`, on the launcher's host alone.
    @Test func hostsWithoutTheDataStopTheLaunchBeforeAnyRoleStarts() throws {
        let ssh = try SSHHosts(count: 3, serving: [1, 2])
        defer { ssh.remove() }
        let (h1, h2) = (ssh.hosts.address(1), ssh.hosts.address(2))
        let (train, test) = (try ssh.digitsOnTheLauncherHost("train.csv"), try ssh.digitsOnTheLauncherHost("test.csv"))
        let log = try ssh.failedLaunch(["--hosts", h1, "--servers-on", h2] + config + ["data.train=\(train)", "data.test=\(test)"])
        #expect(log.contains("the data's files are not readable on every host"), "\(log)")
        #expect(log.contains("\n  \(h2): \(train), \(test)\n  \(h1): \(train)\n"),
                "each host (the servers' first), with the files it lacks:\n\(log)")
        #expect(!log.contains("copied launch.yaml") && !log.contains("[\(h1): ") && !log.contains("[\(h2): "), "no role started:\n\(log)")
    }

    /// A file every host has but one holds in another form passes that check; a worker that reads it there exits
    /// with `ChildExitStatus.unusableInput`, and the launch ends at once with its reason rather than restarting it
    /// `cluster.max_restarts` times into the same error. Each host's training file is written through ssh, on its
    /// own disk: the worker's holds the first 100 rows of the server's.
    @Test func aWorkerThatCannotUseItsHostsDataEndsTheLaunchWithoutRestarts() throws {
        let ssh = try SSHHosts(count: 3, serving: [1, 2])
        defer { ssh.remove() }
        let (h1, h2) = (ssh.hosts.address(1), ssh.hosts.address(2))
        let train = try ssh.digitsOnTheLauncherHost("train.csv")
        try ssh.shell(on: 1, "mkdir -p \(ssh.runs)/data && head -n 100 \(SSHHosts.digits("train.csv")) > \(train)")
        try ssh.shell(on: 2, "mkdir -p \(ssh.runs)/data && cp \(SSHHosts.digits("train.csv")) \(train)")
        let log = try ssh.failedLaunch(["--hosts", h1, "--servers-on", h2] + config + ["data.train=\(train)", "cluster.max_restarts=3"])
        #expect(log.contains("\(h1): worker 0 failed with status \(ChildExitStatus.unusableInput) (it cannot use its config or data there"), "\(log)")
        #expect(log.contains("\(train): holds 100 samples, where the server's copy of it holds 1437"), "the worker's reason, from its log:\n\(log)")
        #expect(!log.contains("restarting it"), "\(log)")
    }

    /// Started from a terminal, as a person starts it, the launch runs to its end. Each role's ssh reads a pipe the
    /// launcher holds: an ssh reading the terminal from a process group of its own was stopped by SIGTTIN, and the
    /// launch hung once it had copied its files. util-linux's `script` gives the launcher a terminal of its own.
    @Test func aLaunchStartedFromATerminalRunsToItsEnd() throws {
        let ssh = try SSHHosts(count: 3, serving: [1, 2])
        defer { ssh.remove() }
        let (h1, h2) = (ssh.hosts.address(1), ssh.hosts.address(2))
        let dir = "\(ssh.runs)/job"
        let launch = [PSTrainProcess.binary.path, "launch", "ssh", "--hosts", "\(h2):2", "--servers-on", h1, "--insecure", "--run-dir", dir]
            + ssh.sshOptions + config + ["train.epochs=2"]
        // script's own input is /dev/null, so that it never takes the keys of whoever runs the tests.
        let inTerminal = "exec script --quiet --return --command \(SSHPlacement.quote(launch.map(SSHPlacement.quote).joined(separator: " "))) "
            + "/dev/null < /dev/null"
        let ran = try PSTrainProcess.run(executable: URL(fileURLWithPath: "/usr/sbin/ip"),
                                         ["netns", "exec", ssh.hosts.namespace(0), "sh", "-c", inTerminal], timeout: 120)
        #expect(ran.status == 0, "\(ran.stdout)\n\(ran.stderr)")
        #expect(try PSTrainProcess.summary(in: dir)["status"] as? String == "completed", "\(ran.stdout)")
    }

    /// A launcher killed by SIGKILL can do nothing itself: the kernel stops each of its local ssh processes, whose
    /// sessions' ends stop the remote roles, cleanly (shard 0 writes its stop checkpoint). The job is a long, quiet
    /// one: a role that writes a line to an ssh nobody reads any more dies of it, so chatty roles would stop anyway.
    @Test func aKilledLauncherLeavesNothingRunningOnItsHosts() throws {
        let ssh = try SSHHosts(count: 3, serving: [1, 2])
        defer { ssh.remove() }
        let (h1, h2) = (ssh.hosts.address(1), ssh.hosts.address(2))
        let dir = "\(ssh.runs)/job"
        let quietAndLong = ["--config", "configs/quickstart.yaml", "data.samples=50000", "train.batch_size=2", "train.log_every=100000000"]
        let launch = try PSTrainProcess.start(["launch", "ssh", "--hosts", "\(h2):2", "--servers-on", h1, "--insecure"] + ssh.sshOptions
                                              + ["--run-dir", dir] + quietAndLong,
                                              stderrPath: "\(ssh.root)/launch.stderr", namespace: ssh.hosts.namespace(0))
        defer { launch.stop() }
        let progress = "\(ssh.root)/launch.stderr"
        try #require(PSTrainProcess.waitFor(timeout: 120) {
            let log = PSTrainProcess.log(progress)
            return log.contains("worker 0: registered") && log.contains("worker 1: registered")
        }, "\(PSTrainProcess.log(progress))")
        #expect(try ssh.pstrainProcesses(on: 1).count == 1 && ssh.pstrainProcesses(on: 2).count == 2)
        kill(launch.process.processIdentifier, SIGKILL)
        _ = launch.wait(timeout: 30)
        ssh.expectNoPSTrainLeft(on: [1, 2], within: 30)
        // Read on the server's host, through its sshd: its run directory is not visible from here.
        let latest = try PSTrainProcess.run(executable: URL(fileURLWithPath: "/usr/sbin/ip"),
                                            ["netns", "exec", ssh.hosts.namespace(0), "ssh"] + ssh.sshOptions.filter { $0 != "--ssh-option" }
                                                .flatMap { ["-o", $0] } + [h1, "cat \(dir)/checkpoints/latest"], timeout: 30)
        #expect(latest.status == 0 && latest.stdout.contains("step-"), "no stop checkpoint on \(h1): \(latest.stderr)")
    }

    /// A stopped launcher stops every remote process; `--resume` then starts the run again, here with its workers
    /// moved to another host, and shard 0 continues on its host from the checkpoint it wrote as it stopped.
    @Test func stoppingTheLauncherStopsEveryRemoteProcessAndResumeContinuesTheRun() throws {
        let ssh = try SSHHosts(count: 4, serving: [1, 2, 3])
        defer { ssh.remove() }
        let (h1, h2, h3) = (ssh.hosts.address(1), ssh.hosts.address(2), ssh.hosts.address(3))
        let dir = "\(ssh.runs)/job"
        let launch = try PSTrainProcess.start(["launch", "ssh", "--hosts", "\(h2):2", "--servers-on", h1, "--insecure"] + ssh.sshOptions
                                              + ["--run-dir", dir] + config + ["train.epochs=40"],
                                              stderrPath: "\(ssh.root)/launch.stderr", namespace: ssh.hosts.namespace(0))
        defer { launch.stop() }
        let progress = "\(ssh.root)/launch.stderr"
        try #require(PSTrainProcess.waitFor(timeout: 120) { PSTrainProcess.log(progress).contains("epoch 1/40") }, "\(PSTrainProcess.log(progress))")
        #expect(try ssh.pstrainProcesses(on: 1).count == 1 && ssh.pstrainProcesses(on: 2).count == 2)
        kill(launch.process.processIdentifier, SIGTERM)
        #expect(launch.wait(timeout: 60) == 1, "\(PSTrainProcess.log(progress))")
        ssh.expectNoPSTrainLeft(on: [1, 2], within: 60)
        let stopped = PSTrainProcess.log(progress)
        #expect(stopped.contains("pstrain launch ssh --resume \(dir) continues the run"), "\(stopped)")
        // Asked to stop through its input, the server's connection stayed up to bring back its last line.
        #expect(stopped.contains("[\(h1): server] pstrain server: server stopped before the job was done: signal 15; checkpoint written at step "),
                "\(stopped)")

        // Moving roles keeps the run's shape: as many workers and shards, shard 0 where its checkpoints are.
        for (moves, reason) in [(["--hosts", "\(h3):1"], "--hosts places 1 worker(s); the run has 2"),
                                (["--servers-on", h3], "shard 0 resumes from the run's checkpoints on its host, \(h1)")] {
            let refused = try PSTrainProcess.run(executable: URL(fileURLWithPath: "/usr/sbin/ip"),
                                                 ["netns", "exec", ssh.hosts.namespace(0), PSTrainProcess.binary.path, "launch", "ssh",
                                                  "--resume", dir] + moves, timeout: 60)
            #expect(refused.status != 0 && refused.stderr.contains(reason), "\(refused.stderr)")
        }
        // A host that cannot be reached (host 0 runs no sshd) fails the launch and leaves the record as it was.
        let unreachable = try PSTrainProcess.run(executable: URL(fileURLWithPath: "/usr/sbin/ip"),
                                                 ["netns", "exec", ssh.hosts.namespace(0), PSTrainProcess.binary.path, "launch", "ssh",
                                                  "--resume", dir, "--hosts", "\(ssh.hosts.address(0)):2"], timeout: 60)
        #expect(unreachable.status != 0 && unreachable.stderr.contains(ssh.hosts.address(0)), "\(unreachable.stderr)")
        let kept = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/launch-ssh.json"))) as? [String: Any]
        #expect(kept?["hosts"] as? String == "\(h2):2", "\(String(describing: kept))")
        let resumed = try PSTrainProcess.start(["launch", "ssh", "--resume", dir, "--hosts", "\(h3):2"], stderrPath: "\(ssh.root)/resume.stderr",
                                               namespace: ssh.hosts.namespace(0))
        defer { resumed.stop() }
        let status = resumed.wait(timeout: 300)
        try #require(status == 0, "\(PSTrainProcess.log("\(ssh.root)/resume.stderr"))")
        let summary = try PSTrainProcess.summary(in: dir)
        // 72 steps an epoch: the checkpoint the server wrote as it stopped, past epoch 1.
        let resumedFrom = try #require(summary["resumed_from_step"] as? Int, "\(PSTrainProcess.log("\(ssh.root)/resume.stderr"))")
        #expect(resumedFrom >= 72 && summary["steps"] as? Int == 40 * 72 && summary["workers"] as? Int == 2, "\(summary)")
        let resumeLog = PSTrainProcess.log("\(ssh.root)/resume.stderr")
        #expect(resumeLog.contains("resumed from the checkpoint of step \(resumedFrom)"))
        #expect(resumeLog.contains("[\(h3): worker 0] ") && resumeLog.contains("[\(h3): worker 1] ") && !resumeLog.contains("[\(h2): worker"),
                "\(resumeLog)")
        // The record follows the move, so a further --resume finds the workers where they went.
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/launch-ssh.json"))) as? [String: Any]
        #expect(record?["hosts"] as? String == "\(h3):2" && record?["serversOn"] as? String == h1, "\(String(describing: record))")
        #expect(try #require(summary["test_accuracy"] as? Double) >= 0.95, "\(summary)")
    }
}
