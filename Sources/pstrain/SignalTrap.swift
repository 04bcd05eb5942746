import Foundation
import Glibc

/// SIGINT and SIGTERM for the whole process. `takeOver()`, first thing in `main`, blocks them in the main thread,
/// so that every thread started later (ours, Foundation's, libdispatch's, libzmq's) has them blocked too, and one
/// thread takes them with `sigwait`: a signal runs the handler a `SignalTrap` installed or, with none installed,
/// ends the process as the signal would have.
///
/// Why not libdispatch's signal sources: on Linux they read a signalfd, which sees a signal only while the thread
/// the kernel picks blocks it. A SIGTERM delivered to any other thread met the SIG_IGN those sources need and was
/// lost; under load a launcher ignored SIGTERM for a minute that way.
enum StopSignals {
    private static let lock = NSLock()
    // Guarded by `lock`.
    nonisolated(unsafe) private static var handler: (@Sendable (Int32) -> Void)?

    static func takeOver() {
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
        let blocked = stopSignals
        let watcher = Thread {
            var waitedFor = blocked
            while true {
                var signalNumber: Int32 = 0
                guard sigwait(&waitedFor, &signalNumber) == 0 else { continue }
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

    /// The signal's default action: let it through to this thread alone, and send it again.
    private static func endAsTheSignalWould(_ signalNumber: Int32) -> Never {
        signal(signalNumber, SIG_DFL)
        var only = sigset_t()
        sigemptyset(&only)
        sigaddset(&only, signalNumber)
        pthread_sigmask(SIG_UNBLOCK, &only, nil)
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
