import CProcessControl
import Foundation
import Glibc

/// What a process started by `pstrain launch` does so that it never outlives the launcher.
///
/// Two signs of the launcher's end, either enough: the end of standard input, a pipe the launcher holds open (over
/// ssh, the connection carries it) and closes to stop its roles, or closes by dying; and SIGTERM from the kernel
/// when the parent dies (the launcher, or on another host the sshd session whose connection ended).
enum LaunchedChild {
    /// The environment variable through which the launcher passes its pid to its children.
    static let parentVariable = "PSTRAIN_LAUNCHER_PID"

    /// Whether `pstrain launch` (on this host or through ssh) started this process.
    static var isLaunched: Bool { ProcessInfo.processInfo.environment[parentVariable] != nil }

    /// If started by `pstrain launch`: stop as on SIGTERM at the end of standard input, have the kernel send
    /// SIGTERM when the launcher dies, even by SIGKILL, and exit at once if it has died already.
    static func followParent() {
        guard let text = ProcessInfo.processInfo.environment[parentVariable], let parent = pid_t(text) else { return }
        // The launcher's end closes the pipes this process writes its output into (on another host, as its ssh
        // session ends): the SIGTERM that follows must find it alive to stop cleanly and write its checkpoint,
        // not killed by SIGPIPE at its next log line.
        signal(SIGPIPE, SIG_IGN)
        stopAtEndOfInput()
        if pstrain_signal_on_parent_death(SIGTERM) != 0 {
            printError("pstrain: warning: cannot ask to be stopped with the launcher: \(String(cString: strerror(errno)))")
        }
        // The launcher may have died before the request took effect.
        if getppid() != parent {
            printError("pstrain: the launcher (pid \(parent)) is gone; exiting")
            exit(1)
        }
    }

    /// Reads standard input to its end, on a thread of its own, then sends this process SIGTERM: the stop then
    /// takes the one path a signal takes (a role stops cleanly, writing its checkpoint). The launcher sends
    /// nothing; a read error ends the watch the same way, as the launcher's line is gone either way.
    private static func stopAtEndOfInput() {
        let watcher = Thread {
            var discarded = [UInt8](repeating: 0, count: 256)
            while true {
                let count = read(STDIN_FILENO, &discarded, discarded.count)
                if count > 0 || (count < 0 && errno == EINTR) { continue }
                break
            }
            kill(getpid(), SIGTERM)
        }
        watcher.name = "launcher input"
        watcher.start()
    }
}
