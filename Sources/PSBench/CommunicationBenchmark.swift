import ArgumentParser
import Config
import Foundation
import Roles
import Training
import Transport
import Wire
import ZeroMQ
import ZMQTransport

/// A push + pull round trip through a real parameter server, beside a raw ZeroMQ echo of the same size.
struct CommunicationBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "comm",
        abstract: "Push + pull round trip of pstrain against a raw ZeroMQ echo, for several model sizes.",
        discussion: """
            pstrain: one worker pushes a float32 gradient of the model's size to a ParameterServer (async mode, \
            SGD) and waits for the new weights: validation, the optimizer step and every copy included. Raw: a \
            DEALER sends the same number of bytes to a ROUTER that sends them straight back. The worker and the \
            DEALER run in this process; the ParameterServer and the ROUTER each in a process of their own, as in \
            a deployment, over the same endpoint kind. The two are timed in alternating rounds of 0.1 s; each \
            figure is the median of its rounds. "server ms" is the part of a round trip the server spent handling \
            the push (decoding, measuring and copying the gradient, the optimizer step, sending the weights): its \
            busy time, as `pstrain status` reports it, over the round trips made. Each size is measured in two \
            placements: free, where the kernel's scheduler puts every thread of both processes on any core, and \
            pinned, where the worker's process keeps to one core and the server's (or echo's) to another, as when \
            each has a machine of its own; the JSON says which CPUs each side was allowed.
            """)

    @Option(help: "Model sizes in MiB.") var sizes = "1,4,16"
    @Option(help: "Transports: tcp, ipc.") var transports = "tcp,ipc"
    @Option(help: """
        Where the worker's and the server's processes run: free (the kernel's scheduler places every thread on any \
        core), pinned (the worker's process on one core, the server's or echo's on another, each with its ZeroMQ \
        I/O thread, as when each has a machine of its own; needs two cores).
        """) var placements = "free,pinned"
    @Option(help: "Seconds to measure each figure (after a warm-up).") var seconds = 2.0
    @Option(help: """
        Measure everything this many times, one run after the other, then print each row's ratio over the runs: \
        lowest, median, highest, and how many runs met the target of 1.15x.
        """) var runs = 1
    @Option(help: "Write the results as JSON to this file.") var json: String?

    /// The ratio to the echo that the project aims for; the summary over several runs counts the runs within it.
    static let targetRatio = 1.15

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1, got \(runs)") }
    }

    func run() throws {
        let sizeList = sizes.split(separator: ",").compactMap { Double($0) }
        let kinds = transports.split(separator: ",").map(String.init)
        let placementList = try placements.split(separator: ",").map { name in
            guard let placement = CorePlacement(rawValue: String(name)) else {
                throw ValidationError("unknown placement '\(name)' in --placements: use free, pinned or both")
            }
            return placement
        }
        let cores = CorePlacement.pinnedCores()
        print("push + pull round trip, one worker; \(ComputeBenchmark.machine())")
        if placementList.contains(.pinned) && cores == nil {
            print("pinned placement skipped: this process may run on one CPU only (\(CorePlacement.allowedCPUList() ?? "?"))")
        }
        var rows: [[String: Any]] = []
        for run in 1 ... runs {
            if runs > 1 { print("run \(run) of \(runs)") }
            print("placement   transport   MiB   pstrain ms   server ms   raw echo ms   ratio")
            for placement in placementList {
                let pinned = placement == .pinned ? cores : nil
                if placement == .pinned && pinned == nil { continue }
                for kind in kinds {
                    for mib in sizeList {
                        let bytes = Int(mib * 1_048_576) / 4 * 4
                        // The worker's side runs on a thread of the placement's own, so that its ZeroMQ context's I/O
                        // thread inherits the worker's core; the peers pin themselves to the server's.
                        let row = try CorePlacement.run(on: pinned?.worker) { try measure(kind: kind, bytes: bytes, serverCPU: pinned?.server) }
                        print(placement.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) + "  "
                              + kind.padding(toLength: 9, withPad: " ", startingAt: 0)
                              + String(format: "  %5g  %10.3f  %10.3f   %11.3f   %5.2f", mib, row.ours * 1000, row.server * 1000, row.raw * 1000,
                                       row.ours / row.raw))
                        rows.append(["run": run, "placement": placement.rawValue, "transport": kind, "mib": mib, "pstrain_ms": row.ours * 1000,
                                     "server_ms": row.server * 1000, "raw_echo_ms": row.raw * 1000, "ratio": row.ours / row.raw,
                                     "worker_cpus": row.workerCPUs, "server_cpus": row.serverCPUs])
                    }
                }
            }
        }
        let summary = runs > 1 ? RatioSummary.each(of: rows) : []
        if !summary.isEmpty {
            print("\npstrain / echo over \(runs) runs")
            print("placement   transport   MiB   lowest   median   highest   runs within \(Self.targetRatio)x")
            for row in summary {
                print(row.placement.padding(toLength: 10, withPad: " ", startingAt: 0) + "  " + row.transport.padding(toLength: 9, withPad: " ", startingAt: 0)
                      + String(format: "  %5g   %6.2f   %6.2f    %6.2f   %d of %d", row.mib, row.lowest, row.median, row.highest, row.withinTarget,
                               row.ratios.count))
            }
        }
        if let json {
            var report: [String: Any] = ["benchmark": "comm", "machine": ComputeBenchmark.machine(), "results": rows]
            if !summary.isEmpty { report["summary"] = summary.map(\.json) }
            try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
        }
    }

    /// One placement, transport and size: its ratio to the echo in each run, and their lowest, median and highest.
    struct RatioSummary {
        let placement: String, transport: String, mib: Double
        /// Lowest first.
        let ratios: [Double]

        var lowest: Double { ratios.first! }
        var highest: Double { ratios.last! }
        var median: Double {
            let middle = ratios.count / 2
            return ratios.count % 2 == 1 ? ratios[middle] : (ratios[middle - 1] + ratios[middle]) / 2
        }
        var withinTarget: Int { ratios.filter { $0 <= CommunicationBenchmark.targetRatio }.count }
        var json: [String: Any] {
            ["placement": placement, "transport": transport, "mib": mib, "runs": ratios.count, "lowest": lowest, "median": median,
             "highest": highest, "within_target": withinTarget, "target": CommunicationBenchmark.targetRatio]
        }

        /// Each placement, transport and size of the measured `rows`, in the order they were first measured.
        static func each(of rows: [[String: Any]]) -> [RatioSummary] {
            var summaries: [RatioSummary] = []
            for row in rows {
                let placement = row["placement"] as! String, transport = row["transport"] as! String, mib = row["mib"] as! Double
                let ratio = row["ratio"] as! Double
                if let index = summaries.firstIndex(where: { $0.placement == placement && $0.transport == transport && $0.mib == mib }) {
                    summaries[index] = RatioSummary(placement: placement, transport: transport, mib: mib, ratios: (summaries[index].ratios + [ratio]).sorted())
                } else {
                    summaries.append(RatioSummary(placement: placement, transport: transport, mib: mib, ratios: [ratio]))
                }
            }
            return summaries
        }
    }

    /// One row's figures: seconds per round trip of pstrain and of the echo, the server's busy seconds per round
    /// trip, and the CPUs each side was allowed (as /proc lists them), which shows the placement took.
    struct Measurement {
        var ours: Double, raw: Double, server: Double
        var workerCPUs: String, serverCPUs: String
    }

    func measure(kind: String, bytes: Int, serverCPU: Int?) throws -> Measurement {
        let echo = try rawEcho(kind: kind, bytes: bytes, cpu: serverCPU)
        defer { echo.finish() }
        let pstrain = try pushPull(kind: kind, parameters: bytes / 4, cpu: serverCPU)
        defer { pstrain.finish() }
        // The server's time is taken over the timed calls, after a warm-up has made its buffers.
        let warmUp = min(0.5, seconds / 4)
        _ = try callsPerSecond(seconds: 0, warmUp: warmUp, pstrain.call)
        let busyBefore = try pstrain.busySeconds()
        var calls = 0
        let (ours, raw) = try alternatingSecondsPerCall(seconds: seconds, warmUp: warmUp, {
            calls += 1
            try pstrain.call()
        }, echo.call)
        let server = (try pstrain.busySeconds() - busyBefore) / Double(max(calls, 1))
        return Measurement(ours: ours, raw: raw, server: server, workerCPUs: CorePlacement.allowedCPUList() ?? "?",
                           serverCPUs: pstrain.serverCPUs)
    }

    /// One round trip to time, and how to take down what it runs on.
    struct RoundTrip {
        var call: () throws -> Void
        var finish: () -> Void
        /// The server's time handling messages so far (pstrain's only).
        var busySeconds: () throws -> Double = { 0 }
        /// The CPUs the far end's process may run on.
        var serverCPUs = "?"
    }

    func rawEcho(kind: String, bytes: Int, cpu: Int?) throws -> RoundTrip {
        let peer = try PeerProcess(role: .echo, transport: kind, parameters: bytes / 4, cpu: cpu)
        let context = try ZMQContext()
        let dealer = try context.socket(.dealer)
        try dealer.connect(peer.endpoint)
        // Real values, as in the gradient pstrain sends: memory never written reads as the kernel's shared zero page,
        // which stays in cache and made the echo's copies unrealistically cheap.
        let payload = OutboundFrame(count: bytes)
        payload.withFloats { $0.update(repeating: 1e-3) }
        return RoundTrip(call: {
            try dealer.send(zeroCopy: payload.bytes, owner: payload)
            _ = try dealer.receive()
        }, finish: {
            dealer.close()
            peer.finish()
        })
    }

    func pushPull(kind: String, parameters: Int, cpu: Int?) throws -> RoundTrip {
        let run = try PreparedRun(config: CommunicationPeer.serverConfig(parameters: parameters))
        let peer = try PeerProcess(role: .server, transport: kind, parameters: parameters, cpu: cpu)
        let address = peer.endpoint
        let context = try ZMQContext()
        let client = try ZMQClientTransport(context: context, connect: address, maxMessageBytes: 1 << 30)
        let jobID = run.jobID
        /// The server's next message; a server that stopped answering ends the benchmark with a message.
        func answer() throws -> [any InboundFrame] {
            guard let reply = try client.receive(timeoutMilliseconds: 60_000) else {
                throw ValidationError("the benchmark's server (a comm-peer process) did not answer within 60 s")
            }
            return reply
        }
        func exchange(_ frames: [OutboundFrame]) throws -> UInt64 {
            try client.send(frames)
            let reply = try answer()
            return try withFrameBytes(reply) { try Message.decode($0, maxPayloadBytes: 1 << 30).header.version }
        }
        _ = try exchange([OutboundFrame(Header(kind: .register, jobID: jobID, sender: 0, layoutHash: run.spec.layout.hash).encoded())])
        var version = try exchange([OutboundFrame(Header(kind: .pull, jobID: jobID, sender: 0).encoded())])
        var gradientFrame = OutboundFrame(count: 4 * parameters)
        gradientFrame.withFloats { $0.update(repeating: 1e-3) }
        var weights = [Float](repeating: 0, count: parameters)
        var weightsFrame: (any InboundFrame)?
        var pieces = WeightsPieces()
        let call = {
            // The worker's side of a step, as `Worker` does it: the gradient sits in a reused frame (the network
            // writes it there) and goes out, a large one in pieces; weights that come whole are read where they
            // arrived, pieces are copied into place as they arrive.
            if !isKnownUniquelyReferenced(&gradientFrame) { gradientFrame = OutboundFrame(count: 4 * parameters) }
            let first = weightsFrame?.withBytes { $0.load(as: Float.self) } ?? weights[0]
            gradientFrame.withFloats { $0[0] = first * 1e-3 }
            let header = Header(kind: .push, jobID: jobID, sender: 0, elementType: .float32, version: version, aux: 1,
                                count: UInt64(parameters))
            try client.send(try pushInParts(header, gradient: gradientFrame) { try client.send($0) })
            while true {
                let reply = try answer()
                let (done, whole) = try withFrameBytes(reply) { views in
                    let message = try Message.decode(views, maxPayloadBytes: 1 << 30)
                    let h = message.header
                    let place = h.kind == .weightsPart ? pieces.placePart(h, total: parameters) : pieces.placeWeights(h, total: parameters)
                    version = h.version
                    if place!.count == parameters { return (true, true) }
                    weights.withUnsafeMutableBufferPointer { message.copyFloats(into: UnsafeMutableBufferPointer(rebasing: $0[place!])) }
                    return (h.kind == .weights, false)
                }
                weightsFrame = whole ? reply[1] : nil
                if done { break }
            }
        }
        return RoundTrip(call: call, finish: {
            client.close()
            peer.finish()
        }, busySeconds: {
            try client.send([OutboundFrame(Header(kind: .stats, jobID: jobID, sender: 0).encoded())])
            let reply = try answer()
            let text = try withFrameBytes(reply) { try Message.decode($0, maxPayloadBytes: 1 << 30).text } ?? ""
            let state = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            guard let busy = (state?["busy_seconds"] as? NSNumber)?.doubleValue else {
                throw ValidationError("the benchmark's server answered its stats request without busy_seconds: \(text)")
            }
            return busy
        }, serverCPUs: peer.allowedCPUs)
    }
}
