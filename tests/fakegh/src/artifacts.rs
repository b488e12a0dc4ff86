//! Artifact archives: real zips built with the zip crate, plus hostile variants.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::faults::Hostile;
use super::util::crc32_of_zeros;

/// Uncompressed size of the zip bomb entry: just over 1 GiB, and still under 4 GiB so the entry
/// needs no zip64 records (a client must refuse it by its own limits, not by a format quirk).
pub const BOMB_SIZE: u64 = 1 + 258 * (((1 << 30) + (1 << 20)) / 258 + 1);
const _: () = assert!(BOMB_SIZE > 1 << 30 && BOMB_SIZE < u32::MAX as u64);

/// One cell's files: (cell id, [(path inside the cell's folder, bytes)]).
pub type CellFiles = (String, Vec<(String, Vec<u8>)>);

/// Builds the zip that upload-artifact would have produced for a shard: `{cell}/{path}` entries,
/// deflated, with fixed timestamps so the same content always gives the same bytes (and digest).
pub fn build_zip(cells: &[CellFiles], hostile: Option<Hostile>) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .unix_permissions(0o644);
    for (cell, files) in cells {
        for (path, bytes) in files {
            zip.start_file(format!("{cell}/{path}"), opts)
                .expect("zip entry");
            zip.write_all(bytes).expect("zip write");
        }
    }
    let first_cell = cells.first().map_or("cell", |(c, _)| c.as_str());
    match hostile {
        None => {}
        Some(Hostile::ParentDir) => {
            zip.start_file("../evil", opts).expect("zip entry");
            zip.write_all(b"written outside the extraction folder\n")
                .expect("zip write");
        }
        Some(Hostile::Absolute) => {
            zip.start_file("/abs/evil", opts).expect("zip entry");
            zip.write_all(b"written at an absolute path\n")
                .expect("zip write");
        }
        Some(Hostile::Symlink) => {
            zip.add_symlink(format!("{first_cell}/link"), "../../../../etc/passwd", opts)
                .expect("zip symlink");
        }
        Some(Hostile::Bomb) => {
            // Copy the hand-made entry in without recompressing it (which would need 1 GiB).
            let bomb = bomb_zip(&format!("{first_cell}/bomb.bin"), BOMB_SIZE);
            let mut archive = ZipArchive::new(Cursor::new(bomb)).expect("bomb zip parses");
            let entry = archive.by_index_raw(0).expect("bomb entry");
            zip.raw_copy_file(entry).expect("copy bomb entry");
        }
    }
    zip.finish().expect("zip finish").into_inner()
}

/// LSB-first bit writer, as DEFLATE (RFC 1951) packs its bits.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u64, count: u32) {
        self.acc |= value << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
    /// Huffman codes go most-significant bit first.
    fn code(&mut self, code: u64, len: u32) {
        for i in (0..len).rev() {
            self.put(code >> i & 1, 1);
        }
    }
}

/// A raw DEFLATE stream that inflates to `len` zero bytes (`len` = 1 + 258·k).
///
/// One dynamic-Huffman block whose literal/length code gives symbol 285 ("copy 258 bytes") a
/// 1-bit code and whose distance code gives distance 1 a 1-bit code: after one literal zero,
/// every 2 bits of input expand to 258 zero bytes — DEFLATE's ~1032:1 limit, so 1 GiB costs 1 MiB
/// and the stream is produced without ever holding the expanded data.
fn deflate_zeros(len: u64) -> Vec<u8> {
    assert!(
        len >= 1 && (len - 1).is_multiple_of(258),
        "length must be 1 + 258k"
    );
    let copies = (len - 1) / 258;
    let mut b = Bits {
        out: Vec::with_capacity((copies / 4 + 64) as usize),
        acc: 0,
        n: 0,
    };
    b.put(1, 1); // BFINAL
    b.put(2, 2); // BTYPE = dynamic Huffman
    b.put(286 - 257, 5); // HLIT: literal/length codes 0..=285
    b.put(2 - 1, 5); // HDIST: distance codes 0..=1 (two 1-bit codes: a complete code)
    b.put(18 - 4, 4); // HCLEN: 18 code-length code lengths follow
    // Code-length alphabet: symbol 18 (run of zeros) -> "0", 1 -> "10", 2 -> "11".
    const ORDER: [usize; 18] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1];
    for sym in ORDER {
        b.put(
            match sym {
                18 => 1,
                1 | 2 => 2,
                _ => 0,
            },
            3,
        );
    }
    let (len1, len2) = (
        |b: &mut Bits| b.code(0b10, 2),
        |b: &mut Bits| b.code(0b11, 2),
    );
    let zeros = |b: &mut Bits, n: u64| {
        b.code(0, 1);
        b.put(n - 11, 7);
    };
    // Literal/length lengths: 0 -> 2, 1..=255 -> 0, 256 -> 2, 257..=284 -> 0, 285 -> 1.
    len2(&mut b);
    zeros(&mut b, 138);
    zeros(&mut b, 117);
    len2(&mut b);
    zeros(&mut b, 28);
    len1(&mut b);
    // Distance lengths: 0 -> 1, 1 -> 1.
    len1(&mut b);
    len1(&mut b);
    // Canonical codes now: 285 -> "0", literal 0 -> "10", end-of-block 256 -> "11"; distance 0 -> "0".
    b.code(0b10, 2); // the one literal zero byte
    let mut bits = copies * 2; // each copy is "0" (length 258) + "0" (distance 1)
    while bits >= 32 {
        b.put(0, 32);
        bits -= 32;
    }
    b.put(0, bits as u32);
    b.code(0b11, 2); // end of block
    if b.n > 0 {
        let byte = b.acc as u8;
        b.out.push(byte);
    }
    b.out
}

/// A one-entry zip (stored by hand) whose entry deflates to `len` zero bytes.
fn bomb_zip(name: &str, len: u64) -> Vec<u8> {
    let data = deflate_zeros(len);
    let crc = crc32_of_zeros(len);
    let (csize, usize_) = (
        data.len() as u32,
        u32::try_from(len).expect("bomb under 4 GiB"),
    );
    let name = name.as_bytes();
    // Common header tail: version needed, flags (UTF-8 names), method 8, DOS time 0, date 1980-01-01.
    let common = |v: &mut Vec<u8>| {
        v.extend_from_slice(&20u16.to_le_bytes());
        v.extend_from_slice(&0x0800u16.to_le_bytes());
        v.extend_from_slice(&8u16.to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&0x21u16.to_le_bytes());
        v.extend_from_slice(&crc.to_le_bytes());
        v.extend_from_slice(&csize.to_le_bytes());
        v.extend_from_slice(&usize_.to_le_bytes());
        v.extend_from_slice(&(name.len() as u16).to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes()); // extra field length
    };
    let mut z = Vec::with_capacity(data.len() + 200);
    z.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    common(&mut z);
    z.extend_from_slice(name);
    z.extend_from_slice(&data);
    let cd_offset = z.len() as u32;
    z.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    z.extend_from_slice(&0x031Eu16.to_le_bytes()); // made by: Unix, spec 3.0
    common(&mut z);
    z.extend_from_slice(&0u16.to_le_bytes()); // comment length
    z.extend_from_slice(&0u16.to_le_bytes()); // disk number
    z.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
    z.extend_from_slice(&(0o100644u32 << 16).to_le_bytes()); // external: regular file 0644
    z.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    z.extend_from_slice(name);
    let cd_size = z.len() as u32 - cd_offset;
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    z.extend_from_slice(&[0; 4]); // this disk, disk with the central directory
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&cd_size.to_le_bytes());
    z.extend_from_slice(&cd_offset.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn small_zero_stream_inflates_with_the_zip_crate() {
        // 1 + 258*40 bytes: small enough to inflate fully and check content and CRC.
        let len = 1 + 258 * 40;
        let mut archive = ZipArchive::new(Cursor::new(bomb_zip("z", len))).unwrap();
        let mut out = Vec::new();
        archive.by_index(0).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out.len() as u64, len);
        assert!(out.iter().all(|&b| b == 0));
    }
}
