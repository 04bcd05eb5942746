import CProcessControl
import Foundation
import Glibc

/// What a process started by `pstrain launch` does so that it never outlives the launcher.
enum LaunchedChild {
    /// The environment variable through which the launcher passes its pid to its children.
    static let parentVariable = "PSTRAIN_LAUNCHER_PID"

    /// Whether `pstrain launch` (on this host or through ssh) started this process.
    static var isLaunched: Bool { ProcessInfo.processInfo.environment[parentVariable] != nil }

    /// If started by `pstrain launch`: have the kernel send SIGTERM when the launcher dies, even by SIGKILL,
    /// and exit at once if it has died already.
    static func followParent() {
        guard let text = ProcessInfo.processInfo.environment[parentVariable], let parent = pid_t(text) else { return }
        // The launcher's end closes the pipes this process writes its output into (on another host, as its ssh
        // session ends): the SIGTERM that follows must find it alive to stop cleanly and write its checkpoint,
        // not killed by SIGPIPE at its next log line.
        signal(SIGPIPE, SIG_IGN)
        if pstrain_signal_on_parent_death(SIGTERM) != 0 {
            printError("pstrain: warning: cannot ask to be stopped with the launcher: \(String(cString: strerror(errno)))")
        }
        // The launcher may have died before the request took effect.
        if getppid() != parent {
            printError("pstrain: the launcher (pid \(parent)) is gone; exiting")
            exit(1)
        }
    }
}
