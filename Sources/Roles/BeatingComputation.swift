import Foundation

/// Runs a worker's gradient computations so that its heartbeats go on however long one takes. A worker's sockets
/// live on its own thread, which can send nothing while it computes; a step longer than the heartbeat timeout
/// would have the server declare a healthy worker lost. So a computation that may be long runs on a helper thread
/// while the worker's thread sends a heartbeat every interval; one known to be short (the last took under a
/// quarter of the interval) runs inline, sparing the hand-over on the fast path.
final class BeatingComputation {
    let interval: TimeInterval
    /// How long the last computation took; nil before the first, which is not known to be short.
    private var lastSeconds: TimeInterval?
    private var helper: Helper?

    init(interval: TimeInterval) {
        self.interval = interval
    }

    /// Runs `body` and returns its result. When `body` runs on the helper, `beat` is called every `interval` seconds
    /// until it returns; a failed beat is thrown once `body` is done.
    func run<R>(_ body: () -> R, beat: () throws -> Void) throws -> R {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { lastSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        if let lastSeconds, lastSeconds < interval / 4 { return body() }
        if helper == nil { helper = Helper() }
        return try withoutActuallyEscaping(body) { body in
            var result: R?
            // The helper runs the job while this thread waits on `done`; nothing else touches `result` meanwhile.
            let job = UncheckedJob { result = body() }
            helper!.start(job)
            // `body` must not outlive this call: a failed heartbeat is reported only once the job is done.
            var beatFailure: Error?
            while !helper!.wait(seconds: interval) {
                guard beatFailure == nil else { continue }
                do { try beat() } catch { beatFailure = error }
            }
            if let beatFailure { throw beatFailure }
            return result!
        }
    }

    deinit { helper?.stop() }

    /// A job handed to the helper thread; the handing thread waits for it, so its captures are not shared.
    struct UncheckedJob: @unchecked Sendable {
        let run: () -> Void
    }

    /// One long-lived thread that runs one job at a time.
    final class Helper: @unchecked Sendable {
        // @unchecked: `job` is written before `ready` is signalled and read after it is taken, and the reverse
        // for `done`; the semaphores order every access.
        private var job: UncheckedJob?
        private var stopping = false
        private let ready = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)

        init() {
            let thread = Thread { [self] in
                while true {
                    ready.wait()
                    if stopping { return }
                    job!.run()
                    job = nil
                    done.signal()
                }
            }
            thread.name = "pstrain-compute"
            thread.start()
        }

        func start(_ job: UncheckedJob) {
            self.job = job
            ready.signal()
        }

        /// Whether the job finished within `seconds`.
        func wait(seconds: TimeInterval) -> Bool {
            done.wait(timeout: .now() + seconds) == .success
        }

        func stop() {
            stopping = true
            ready.signal()
        }
    }
}
