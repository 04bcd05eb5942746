import CProcessControl
import Foundation
import Glibc

/// A child process in a process group of its own, whose end a thread of its own observes by waiting for its pid
/// alone.
///
/// Foundation's `Process` on Linux learns that a child ended when a socket the child inherited closes, then blocks
/// its one monitoring thread in `waitpid` until that child has exited. ssh closes every descriptor it inherits as
/// it starts, so a running ssh child held that thread, and no other child's exit was seen until the ssh ended: a
/// `launch ssh` never noticed a worker that failed while its server ran.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: `waitStatus` is guarded by `ended`, `input` by `inputLock`; everything else is set once, in init.
    public let processIdentifier: pid_t
    private let ended = NSCondition()
    private var waitStatus: Int32?
    private let inputLock = NSLock()
    /// The write end of the child's standard input, -1 once closed.
    private var input: Int32

    /// Starts `executable` with `arguments` and `environment`, its standard output and error written into
    /// `output` and `errors` (whose write ends are closed here once the child holds them), and calls `onExit`, on
    /// the thread that watches it, once it has ended. Its standard input is a pipe this object holds open until
    /// `closeInput()` or the child's end: never this process's own, a terminal that a child in a process group of
    /// its own cannot read (ssh, which forwards its input, was stopped by SIGTTIN). Throws only when it could not start.
    public init(executable: URL, arguments: [String], environment: [String: String], output: Pipe, errors: Pipe,
                onExit: @escaping @Sendable () -> Void) throws {
        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var inputEnds: [Int32] = [-1, -1]
        guard pstrain_pipe_closed_on_exec(&inputEnds) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EMFILE) }
        let pid = pstrain_spawn(executable.path, argv, envp, inputEnds[0], output.fileHandleForWriting.fileDescriptor,
                                errors.fileHandleForWriting.fileDescriptor)
        let spawnError = errno
        close(inputEnds[0])
        guard pid > 0 else {
            close(inputEnds[1])
            throw POSIXError(POSIXErrorCode(rawValue: spawnError) ?? .EIO)
        }
        processIdentifier = pid
        input = inputEnds[1]
        Thread { [self] in
            // Reaped only while `ended` is held, so that `terminate` never signals a pid the kernel may have reused.
            _ = pstrain_wait_for_end(pid)
            ended.lock()
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            waitStatus = status
            ended.broadcast()
            ended.unlock()
            closeInput()
            onExit()
        }.start()
        // The reading ends see end-of-file once the child, the only writer left, has closed them. The child runs
        // and is watched whatever a close gives, so a failure there is no reason to throw and lose track of it.
        try? output.fileHandleForWriting.close()
        try? errors.fileHandleForWriting.close()
    }

    public var isRunning: Bool {
        ended.lock()
        defer { ended.unlock() }
        return waitStatus == nil
    }

    /// Its exit status, or the number of the signal that ended it (as Foundation's `Process` gives it); call it
    /// once `isRunning` is false.
    public var terminationStatus: Int32 {
        ended.lock()
        defer { ended.unlock() }
        guard let status = waitStatus else { preconditionFailure("\(processIdentifier) is still running") }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : signal
    }

    /// Sends it `signal` (SIGTERM unless given), unless it has already ended.
    public func terminate(with signal: Int32 = SIGTERM) {
        ended.lock()
        defer { ended.unlock() }
        if waitStatus == nil { kill(processIdentifier, signal) }
    }

    /// Closes the child's standard input, which it reads to its end: a role started by `pstrain launch` takes
    /// that as its launcher asking it to stop (see `LaunchedChild`), and through ssh the end reaches the remote
    /// role over a connection that stays up to bring back its last lines. Safe twice.
    public func closeInput() {
        inputLock.withLock {
            if input >= 0 { close(input) }
            input = -1
        }
    }

    public func waitUntilExit() {
        ended.lock()
        defer { ended.unlock() }
        while waitStatus == nil { ended.wait() }
    }
}
