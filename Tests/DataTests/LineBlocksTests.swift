@testable import Data
import Testing

/// A CSV file is read a block of whole lines at a time: the blocks must hold every byte once, each ending where a
/// line does, however the lines fall against the block size.
@Suite struct LineBlocksTests {
    @Test(arguments: [1, 3, 7, 64])
    func blocksHoldWholeLinesAndEveryByteOnce(blockBytes: Int) throws {
        let dir = try Fixtures.temporaryDirectory()
        for text in ["", "a\n", "no newline at the end", "0,1\r\n22,333,4444\n\n5\n", "a line longer than a block of seven\nb"] {
            try Fixtures.write(Array(text.utf8), to: "\(dir)/t.csv")
            let blocks = try LineBlocks("\(dir)/t.csv", blockBytes: blockBytes)
            var read: [UInt8] = []
            var block = try blocks.next()
            while let current = block {
                #expect(current.last == 0, "each block ends in the terminator")
                let lines = current.dropLast()
                block = try blocks.next()
                if block != nil { #expect(lines.last == 10, "a block that is not the last ends a line: \(text)") }
                read += lines
            }
            #expect(read == Array(text.utf8), "\(text) in blocks of \(blockBytes)")
        }
    }

    /// A reader whose record goes on past a block's last line gives its start back: the next block begins with
    /// it, ahead of the start of a line the block cut, and holds at least one line more; the file is finished only
    /// once nothing is left to hand out.
    @Test func bytesGivenBackComeFirstInTheNextBlock() throws {
        let dir = try Fixtures.temporaryDirectory()
        try Fixtures.write(Array("a,\"b\nc\"\nd\ne".utf8), to: "\(dir)/t.csv")
        let blocks = try LineBlocks("\(dir)/t.csv", blockBytes: 6)
        let first = try #require(try blocks.next())
        #expect(first == Array("a,\"b\n".utf8) + [0], "blocks end where the last line read does; \"c\" waits for the next")
        #expect(!blocks.isFinished)
        // As the CSV reader does with a record that starts in this block and may go on: from its start on.
        blocks.giveBack(first[2 ..< first.count - 1])
        #expect(try blocks.next() == Array("\"b\nc\"\nd\n".utf8) + [0], "the bytes given back, then more lines")
        #expect(!blocks.isFinished, "the last line, without a newline, is still to come")
        #expect(try blocks.next() == Array("e".utf8) + [0])
        #expect(blocks.isFinished)
        blocks.giveBack(ArraySlice(Array("e".utf8)))
        #expect(!blocks.isFinished)
        #expect(try blocks.next() == Array("e".utf8) + [0])
        #expect(blocks.isFinished)
        #expect(try blocks.next() == nil)
    }

    /// A file of several default blocks reads as the rows written, lines and all.
    @Test func aCSVOfManyBlocksReadsWhole() throws {
        let dir = try Fixtures.temporaryDirectory()
        let rows = 450_000
        var text = ""
        for r in 0 ..< rows { text += "\(r % 10),\(r),\(Double(r) / 4),-\(r % 7)\n" }
        try Fixtures.write(Array(text.utf8), to: "\(dir)/many.csv")
        try #require(text.utf8.count > 8 << 20, "the file should span blocks")
        let data = try CSVReader.read(path: "\(dir)/many.csv")
        #expect(data.rows == rows && data.sourceLines?.last == rows)
        #expect(data.features.count == 3 * rows)
        let broken = (0 ..< rows).first { r in
            let written: [Float] = [Float(r), Float(Double(r) / 4), -Float(r % 7)]
            return data.targets[r] != Float(r % 10) || Array(data.features[3 * r ..< 3 * r + 3]) != written
        }
        #expect(broken == nil, "row \(broken ?? -1) read wrong")
    }
}
