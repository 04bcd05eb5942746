import Foundation

/// A small SVG line chart: one polyline per series, linear axes with round ticks, and a legend.
public struct LinePlot {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]

    public init(title: String, xLabel: String, yLabel: String, series: [Series]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]

    /// The chart as an SVG document of `width` x `height` pixels.
    public func svg(width: Double = 760, height: Double = 440) -> String {
        let left = 70.0, right = 200.0, top = 40.0, bottom = 55.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let all = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        let xs = Self.ticks(all.map(\.x).min() ?? 0, all.map(\.x).max() ?? 1)
        let ys = Self.ticks(all.map(\.y).min() ?? 0, all.map(\.y).max() ?? 1)
        func px(_ x: Double) -> Double { left + (x - xs.first!) / (xs.last! - xs.first!) * plotWidth }
        func py(_ y: Double) -> Double { top + plotHeight - (y - ys.first!) / (ys.last! - ys.first!) * plotHeight }
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" \
            font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(left + plotWidth / 2)" y="22" text-anchor="middle" font-size="15">\(Self.escape(title))</text>

            """
        for x in xs {
            out += "<line x1=\"\(px(x))\" y1=\"\(top)\" x2=\"\(px(x))\" y2=\"\(top + plotHeight)\" stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(px(x))\" y=\"\(top + plotHeight + 18)\" text-anchor=\"middle\">\(Self.label(x))</text>\n"
        }
        for y in ys {
            out += "<line x1=\"\(left)\" y1=\"\(py(y))\" x2=\"\(left + plotWidth)\" y2=\"\(py(y))\" stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(left - 8)\" y=\"\(py(y) + 4)\" text-anchor=\"end\">\(Self.label(y))</text>\n"
        }
        out += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"none\" stroke=\"#333\"/>\n"
        out += "<text x=\"\(left + plotWidth / 2)\" y=\"\(height - 12)\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        out += "<text x=\"16\" y=\"\(top + plotHeight / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(top + plotHeight / 2))\">\(Self.escape(yLabel))</text>\n"
        for (i, s) in series.enumerated() {
            let color = Self.palette[i % Self.palette.count]
            let points = s.points.filter { $0.x.isFinite && $0.y.isFinite }.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }
            if !points.isEmpty {
                out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\" points=\"\(points.joined(separator: " "))\"/>\n"
            }
            let ly = top + 10 + Double(i) * 20
            out += "<line x1=\"\(left + plotWidth + 15)\" y1=\"\(ly)\" x2=\"\(left + plotWidth + 40)\" y2=\"\(ly)\" stroke=\"\(color)\" stroke-width=\"3\"/>\n"
            out += "<text x=\"\(left + plotWidth + 46)\" y=\"\(ly + 4)\">\(Self.escape(s.name))</text>\n"
        }
        return out + "</svg>\n"
    }

    /// Round tick values covering `[low, high]`: steps of 1, 2 or 5 times a power of ten, about six of them.
    static func ticks(_ low: Double, _ high: Double) -> [Double] {
        var (low, high) = (low, high)
        if high <= low { (low, high) = (low - 0.5, high + 0.5) }
        let rough = (high - low) / 6
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let first = (low / step).rounded(.down) * step
        return stride(from: first, through: high + step * 0.999, by: step).map { $0 }
    }

    static func label(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e6 { return String(Int(value)) }
        return String(format: abs(value) < 0.01 ? "%.2g" : "%.3g", value)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
