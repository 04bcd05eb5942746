import Glibc

/// A text file read a block of whole lines at a time, so that a reader holds one block rather than the whole file.
/// A reader whose last record goes on past a block's last line (a quoted CSV field holding a line break) gives its
/// start back, and gets it again at the front of the next block.
final class LineBlocks {
    private let path: String
    private let file: UnsafeMutablePointer<FILE>
    private let blockBytes: Int
    /// The start of a line the last block read did not end.
    private var carry: [UInt8] = []
    private var atEnd = false

    /// `path` opened; blocks of about `blockBytes` (more where one line is longer).
    init(_ path: String, blockBytes: Int = 8 << 20) throws(DataError) {
        self.path = path
        self.blockBytes = blockBytes
        file = try openForReading(path)
    }

    deinit { fclose(file) }

    /// Whether every byte of the file has been handed out in a block (and none given back since).
    var isFinished: Bool { atEnd && carry.isEmpty }

    /// Puts `bytes`, the end of the last block, back in front of what the next block holds.
    func giveBack(_ bytes: ArraySlice<UInt8>) {
        carry = Array(bytes) + carry
    }

    /// The next lines: every byte up to and including the last newline read so far (or to the end of the file,
    /// whose last line may lack one), followed by a 0 byte that is not the file's, as `strtof` wants after the last
    /// field. Nil once the file is read.
    func next() throws(DataError) -> [UInt8]? {
        var block = carry
        carry = []
        while !atEnd {
            // The bytes so far, then the next read, in one storage with room for the 0 byte: no block is copied whole.
            // Read into storage left uninitialised: a debug build fills a block byte by byte otherwise.
            let before = block, capacity = before.count + blockBytes + 1
            var read = 0
            block = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                before.withUnsafeBufferPointer { if let start = $0.baseAddress { buffer.baseAddress!.initialize(from: start, count: before.count) } }
                read = fread(buffer.baseAddress! + before.count, 1, blockBytes, file)
                count = before.count + read
            }
            if read < blockBytes {
                if ferror(file) != 0 { throw DataError(source: path, message: "read failed: \(String(cString: strerror(errno)))") }
                atEnd = true
            }
            // From the end: only the last line's bytes are looked at.
            var lastNewline = block.count - 1
            while lastNewline >= before.count && block[lastNewline] != 10 { lastNewline -= 1 }
            if lastNewline >= before.count {
                carry = Array(block[(lastNewline + 1)...])
                block.removeLast(block.count - lastNewline - 1)
                break
            }
        }
        guard !block.isEmpty else { return nil }
        block.append(0)
        return block
    }
}
