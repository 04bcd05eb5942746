/// Where the workers of a launch serve their metrics: worker K at `port + K` on `host`, or each on a free port of
/// its own when `port` is 0.
public struct WorkerMetricsPorts: Equatable, Sendable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Worker `rank`'s `--metrics` value.
    public func address(rank: Int) -> String {
        "\(host):\(port == 0 ? 0 : port + rank)"
    }
}
