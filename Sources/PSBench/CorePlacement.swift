import CProcessControl
import Foundation

/// Where the communication benchmark's two processes run. `free`: wherever the kernel's scheduler puts each of
/// their threads, as on a host shared with other work. `pinned`: the worker's process on one core and the server's
/// (or echo's) on another, each with its ZeroMQ I/O thread beside it, as when each process has a machine of its own.
enum CorePlacement: String {
    case free, pinned

    /// The cores a pinned run uses: the server's first, the worker's second, of those this thread may use; nil
    /// with fewer than two.
    static func pinnedCores() -> (server: Int, worker: Int)? {
        let cpus = allowedCPUs()
        return cpus.count >= 2 ? (cpus[0], cpus[1]) : nil
    }

    /// The CPUs the calling thread may run on, lowest first.
    static func allowedCPUs() -> [Int] {
        var cpus = [Int32](repeating: 0, count: 1024)
        let count = Int(pstrain_allowed_cpus(&cpus, Int32(cpus.count)))
        return count < 0 ? [] : cpus.prefix(min(count, cpus.count)).map(Int.init)
    }

    /// Restricts the calling thread, and the threads and processes it starts from now on, to `cpu`.
    static func pinCallingThread(to cpu: Int) throws {
        guard pstrain_pin_calling_thread(Int32(cpu)) == 0 else {
            throw CorePlacementError(description: "could not pin to CPU \(cpu): \(String(cString: strerror(errno)))")
        }
    }

    /// `body`'s result, run on a new thread restricted to `cpu` (or unrestricted, for nil), so that what it creates
    /// (a ZeroMQ context's I/O threads, a spawned process) inherits the restriction while the caller keeps its own.
    static func run<T>(on cpu: Int?, _ body: @escaping () throws -> T) throws -> T {
        // The caller waits for the thread to finish, so the two never touch `body` or `outcome` at the same time.
        nonisolated(unsafe) let body = body
        nonisolated(unsafe) var outcome: Result<T, any Error>?
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread {
            outcome = Result {
                if let cpu { try pinCallingThread(to: cpu) }
                return try body()
            }
            finished.signal()
        }
        thread.start()
        finished.wait()
        return try outcome!.get()
    }

    /// The CPUs process `pid` (or, for nil, the calling thread) may run on, as the kernel lists them
    /// (`Cpus_allowed_list` in /proc, e.g. "0-1").
    static func allowedCPUList(ofProcess pid: Int32? = nil) -> String? {
        let file = pid.map { "/proc/\($0)/status" } ?? "/proc/thread-self/status"
        guard let status = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        let line = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
        return line.map { $0.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces) }
    }
}

struct CorePlacementError: Error, CustomStringConvertible {
    let description: String
}
