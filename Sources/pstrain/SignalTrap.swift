import CProcessControl
import Foundation
import Glibc

/// SIGINT and SIGTERM for the whole process. `takeOver()`, first thing in `main`, installs a handler that passes
/// each signal through a pipe to one thread (`pstrain_forward_stop_signals`): there a signal runs the handler a
/// `SignalTrap` installed or, with none installed, ends the process as the signal would have.
///
/// A handler, not `sigwait` on signals blocked in every thread: threads started before `main` keep them unblocked
/// (OpenBLAS starts its pool as the library loads), and a SIGTERM the kernel handed one of those ended the process
/// at once, with no checkpoint. Not libdispatch's signal sources either: on Linux they read a signalfd, which sees a
/// signal only while the thread the kernel picks blocks it, and a launcher under load ignored SIGTERM for a minute.
enum StopSignals {
    private static let lock = NSLock()
    // Guarded by `lock`.
    nonisolated(unsafe) private static var handler: (@Sendable (Int32) -> Void)?

    static func takeOver() {
        let readEnd = pstrain_forward_stop_signals()
        guard readEnd >= 0 else {
            printError("pstrain: warning: cannot take over SIGINT and SIGTERM (\(String(cString: strerror(errno)))): they end the process at once")
            return
        }
        let watcher = Thread {
            while true {
                var number: UInt8 = 0
                guard read(readEnd, &number, 1) == 1 else { continue } // EINTR
                let signalNumber = Int32(number)
                if let handler = lock.withLock({ handler }) {
                    handler(signalNumber)
                } else {
                    endAsTheSignalWould(signalNumber)
                }
            }
        }
        watcher.name = "stop signals"
        watcher.start()
    }

    /// The signal's default action: restore it and send the signal again.
    private static func endAsTheSignalWould(_ signalNumber: Int32) -> Never {
        signal(signalNumber, SIG_DFL)
        kill(getpid(), signalNumber)
        _exit(128 + signalNumber)
    }

    fileprivate static func install(_ newHandler: (@Sendable (Int32) -> Void)?) {
        lock.withLock { handler = newHandler }
    }
}

/// Turns SIGINT and SIGTERM into a call of `handler` (on the signal thread) for as long as it lives, instead of
/// ending the process, so a role can stop cleanly and a launcher can stop its children first.
final class SignalTrap {
    init(_ handler: @escaping @Sendable (Int32) -> Void) { StopSignals.install(handler) }
    deinit { StopSignals.install(nil) }
}
