//! The readings file format, version 1 (documented in `docs/READINGS-FORMAT.md`).
//!
//! ```text
//! file    = header record* end
//! header  = "RMRDGS" version:u16le            (8 bytes; version = 1)
//! record  = len:u32le payload[len] crc:u32le  (1 <= len <= MAX_RECORD;
//!                                              payload = postcard(Reading);
//!                                              crc = CRC-32(len bytes ++ payload))
//! end     = 0xFFFFFFFF count:u64le crc:u32le  (count = number of records;
//!                                              crc = CRC-32(0xFFFFFFFF bytes ++ count bytes))
//! ```
//!
//! Nothing may follow `end`. A reader stops at the first byte it cannot trust and reports its
//! offset, keeping every record before it.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};

use super::reading::Reading;

/// The first six bytes of every readings file.
pub const MAGIC: [u8; 6] = *b"RMRDGS";
/// The format version this program writes and reads.
pub const VERSION: u16 = 1;
/// The file name extension of readings files.
pub const EXTENSION: &str = "rdg";
/// The length field value that introduces the end marker instead of a record.
const END_MARK: u32 = u32::MAX;
/// The largest payload accepted. An encoded `Reading` takes under 50 bytes; anything near this
/// limit is a corrupt length, refused before any allocation.
pub const MAX_RECORD: u32 = 4096;

/// Writes readings in format version 1 to `out`.
#[derive(Debug)]
pub struct RecordWriter<W: Write> {
    out: W,
    count: u64,
    /// Reused encoding buffer.
    buf: Vec<u8>,
}

impl<W: Write> RecordWriter<W> {
    /// Writes the file header and returns a writer for the records.
    ///
    /// # Errors
    ///
    /// Any error from `out`.
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(&MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        Ok(Self {
            out,
            count: 0,
            buf: Vec::with_capacity(64),
        })
    }

    /// Appends one record.
    ///
    /// # Errors
    ///
    /// Any error from `out`; an encoding error (which a `Reading` cannot cause) as
    /// `InvalidData`.
    pub fn write(&mut self, reading: &Reading) -> io::Result<()> {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 4]);
        self.buf = postcard::to_extend(reading, std::mem::take(&mut self.buf))
            .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
        let len = u32::try_from(self.buf.len() - 4)
            .ok()
            .filter(|&len| len <= MAX_RECORD)
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidData, "record too long"))?;
        self.buf[..4].copy_from_slice(&len.to_le_bytes());
        let crc = crc32fast::hash(&self.buf);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.out.write_all(&self.buf)?;
        self.count += 1;
        Ok(())
    }

    /// The number of records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Writes the end marker, flushes, and returns the output and the record count.
    ///
    /// # Errors
    ///
    /// Any error from `out`.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        let mut end = [0_u8; 16];
        end[..4].copy_from_slice(&END_MARK.to_le_bytes());
        end[4..12].copy_from_slice(&self.count.to_le_bytes());
        let crc = crc32fast::hash(&end[..12]);
        end[12..].copy_from_slice(&crc.to_le_bytes());
        self.out.write_all(&end)?;
        self.out.flush()?;
        Ok((self.out, self.count))
    }
}

/// Where and why a file stops being readable.
#[derive(Debug)]
pub struct Damage {
    /// Byte offset of the first byte that could not be trusted: the start of the header or of
    /// the record (or end marker) that failed.
    pub offset: u64,
    /// What is wrong there.
    pub kind: DamageKind,
}

/// What is wrong with a file at [`Damage::offset`].
#[derive(Debug)]
pub enum DamageKind {
    /// The file has no bytes at all.
    Empty,
    /// The file does not start with the readings magic: not a readings file.
    Foreign,
    /// A readings file of a version this program does not know.
    UnsupportedVersion(u16),
    /// The file ends inside the header, a record or the end marker.
    Truncated,
    /// The file ends cleanly between records but without the end marker: the writer stopped
    /// early, or the file was cut at a record boundary.
    MissingEnd,
    /// A record length outside `1..=MAX_RECORD`.
    BadLength(u32),
    /// The checksum of a record or of the end marker does not match its bytes.
    Checksum,
    /// A record whose checksum matches but whose payload is not a valid reading.
    Undecodable,
    /// The end marker counts a different number of records than precede it.
    CountMismatch {
        /// The count in the end marker.
        stated: u64,
        /// The records actually read.
        found: u64,
    },
    /// Bytes after the end marker.
    TrailingBytes,
    /// Reading the file failed.
    Io(io::Error),
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "damaged from byte {}: ", self.offset)?;
        match &self.kind {
            DamageKind::Empty => f.write_str("empty file, no header"),
            DamageKind::Foreign => f.write_str("not a readings file (no RMRDGS header)"),
            DamageKind::UnsupportedVersion(v) => {
                write!(
                    f,
                    "format version {v} is not supported (this program reads {VERSION})"
                )
            }
            DamageKind::Truncated => f.write_str("truncated (the file ends inside a record)"),
            DamageKind::MissingEnd => {
                f.write_str("truncated (the file ends between records, without its end marker)")
            }
            DamageKind::BadLength(len) => write!(f, "corrupt record length {len}"),
            DamageKind::Checksum => f.write_str("checksum mismatch"),
            DamageKind::Undecodable => f.write_str("record does not decode as a reading"),
            DamageKind::CountMismatch { stated, found } => {
                write!(f, "end marker counts {stated} records, {found} precede it")
            }
            DamageKind::TrailingBytes => f.write_str("bytes after the end marker"),
            DamageKind::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

/// Reads a readings file record by record, stopping at the first damage.
#[derive(Debug)]
pub struct RecordReader<R: Read> {
    input: R,
    /// Offset of the next unread byte.
    offset: u64,
    /// Records returned so far.
    count: u64,
    /// Set once the header is checked.
    started: bool,
    /// Set once the end marker or damage has been reported.
    done: bool,
}

/// How a `read_exact` ended.
enum Fill {
    Full,
    /// End of input before the first byte.
    Nothing,
    /// End of input after some bytes.
    Partial,
}

impl<R: Read> RecordReader<R> {
    /// A reader of `input`, which must start at the file header.
    pub fn new(input: R) -> Self {
        Self {
            input,
            offset: 0,
            count: 0,
            started: false,
            done: false,
        }
    }

    /// The number of readings returned so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Fills `buf` completely, or says how much input there was.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<Fill> {
        let mut got = 0;
        while got < buf.len() {
            match self.input.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(Fill::Nothing),
                Ok(0) => return Ok(Fill::Partial),
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.offset += buf.len() as u64;
        Ok(Fill::Full)
    }

    /// The next reading: `Ok(None)` after a clean end marker, `Err` at the first damage (then
    /// `Ok(None)` forever).
    ///
    /// # Errors
    ///
    /// [`Damage`] with the offset where the file stops being trustworthy.
    pub fn next_reading(&mut self) -> Result<Option<Reading>, Damage> {
        if self.done {
            return Ok(None);
        }
        let result = self.step();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    fn step(&mut self) -> Result<Option<Reading>, Damage> {
        if !self.started {
            self.read_header()?;
            self.started = true;
        }
        let start = self.offset;
        let damage = |kind| Damage {
            offset: start,
            kind,
        };
        let mut len_bytes = [0_u8; 4];
        match self
            .fill(&mut len_bytes)
            .map_err(|e| damage(DamageKind::Io(e)))?
        {
            Fill::Full => {}
            Fill::Nothing => return Err(damage(DamageKind::MissingEnd)),
            Fill::Partial => return Err(damage(DamageKind::Truncated)),
        }
        let len = u32::from_le_bytes(len_bytes);
        if len == END_MARK {
            return self.read_end(start, len_bytes).map(|()| None);
        }
        if len == 0 || len > MAX_RECORD {
            return Err(damage(DamageKind::BadLength(len)));
        }
        // Payload and checksum in one buffer: `len + 4` bytes, at most `MAX_RECORD + 4`.
        let mut body = vec![0_u8; len as usize + 4];
        match self
            .fill(&mut body)
            .map_err(|e| damage(DamageKind::Io(e)))?
        {
            Fill::Full => {}
            Fill::Nothing | Fill::Partial => return Err(damage(DamageKind::Truncated)),
        }
        let (payload, crc) = body.split_at(len as usize);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&len_bytes);
        hasher.update(payload);
        if hasher.finalize().to_le_bytes() != crc {
            return Err(damage(DamageKind::Checksum));
        }
        match postcard::take_from_bytes::<Reading>(payload) {
            Ok((reading, [])) => {
                self.count += 1;
                Ok(Some(reading))
            }
            Ok(_) | Err(_) => Err(damage(DamageKind::Undecodable)),
        }
    }

    fn read_header(&mut self) -> Result<(), Damage> {
        let damage = |kind| Damage { offset: 0, kind };
        let mut header = [0_u8; 8];
        match self
            .fill(&mut header)
            .map_err(|e| damage(DamageKind::Io(e)))?
        {
            Fill::Full => {}
            Fill::Nothing => return Err(damage(DamageKind::Empty)),
            // Too short for a header: foreign unless what is there is a prefix of ours.
            Fill::Partial => {
                return Err(damage(DamageKind::Truncated));
            }
        }
        if header[..6] != MAGIC {
            return Err(damage(DamageKind::Foreign));
        }
        let version = u16::from_le_bytes([header[6], header[7]]);
        if version != VERSION {
            return Err(Damage {
                offset: 6,
                kind: DamageKind::UnsupportedVersion(version),
            });
        }
        Ok(())
    }

    fn read_end(&mut self, start: u64, mark: [u8; 4]) -> Result<(), Damage> {
        let damage = |kind| Damage {
            offset: start,
            kind,
        };
        let mut rest = [0_u8; 12];
        match self
            .fill(&mut rest)
            .map_err(|e| damage(DamageKind::Io(e)))?
        {
            Fill::Full => {}
            Fill::Nothing | Fill::Partial => return Err(damage(DamageKind::Truncated)),
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&mark);
        hasher.update(&rest[..8]);
        if hasher.finalize().to_le_bytes() != rest[8..] {
            return Err(damage(DamageKind::Checksum));
        }
        let stated = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        if stated != self.count {
            return Err(damage(DamageKind::CountMismatch {
                stated,
                found: self.count,
            }));
        }
        let after = self.offset;
        match self.fill(&mut [0_u8; 1]) {
            Ok(Fill::Nothing) => Ok(()),
            Ok(_) => Err(Damage {
                offset: after,
                kind: DamageKind::TrailingBytes,
            }),
            Err(e) => Err(Damage {
                offset: after,
                kind: DamageKind::Io(e),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::reading::Generator;
    use super::*;

    fn sample(n: usize) -> (Vec<Reading>, Vec<u8>) {
        let mut g = Generator::new(1, 2, None);
        let readings: Vec<_> = (0..n).map(|_| g.next_reading()).collect();
        let mut w = RecordWriter::new(Vec::new()).unwrap();
        for r in &readings {
            w.write(r).unwrap();
        }
        let (bytes, count) = w.finish().unwrap();
        assert_eq!(count, n as u64);
        (readings, bytes)
    }

    fn read_all(bytes: &[u8]) -> (Vec<Reading>, Option<Damage>) {
        let mut r = RecordReader::new(bytes);
        let mut out = Vec::new();
        loop {
            match r.next_reading() {
                Ok(Some(x)) => out.push(x),
                Ok(None) => return (out, None),
                Err(d) => return (out, Some(d)),
            }
        }
    }

    /// Offsets where each record starts, and where the end marker starts.
    fn boundaries(bytes: &[u8]) -> Vec<usize> {
        let mut at = 8;
        let mut out = vec![at];
        while u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) != END_MARK {
            at += 4 + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize + 4;
            out.push(at);
        }
        out
    }

    #[test]
    fn round_trip() {
        for n in [0, 1, 5, 100] {
            let (readings, bytes) = sample(n);
            let (back, damage) = read_all(&bytes);
            assert!(damage.is_none(), "{damage:?}");
            assert_eq!(back, readings);
        }
    }

    #[test]
    fn every_truncation_is_reported_where_the_damage_starts() {
        let (readings, bytes) = sample(4);
        let starts = boundaries(&bytes);
        for cut in 0..bytes.len() {
            let (back, damage) = read_all(&bytes[..cut]);
            let damage = damage.expect("a cut file is damaged");
            // Every record that ends before the cut is kept; damage starts at the next one.
            let kept = starts
                .iter()
                .filter(|&&s| s <= cut)
                .count()
                .saturating_sub(1);
            let kept = if cut < 8 { 0 } else { kept };
            assert_eq!(back, readings[..kept], "cut at {cut}");
            let want = if cut < 8 { 0 } else { starts[kept] as u64 };
            assert_eq!(damage.offset, want, "cut at {cut}: {damage}");
        }
    }

    #[test]
    fn every_bit_flip_is_caught_or_harmless() {
        let (readings, bytes) = sample(3);
        let starts = boundaries(&bytes);
        for bit in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let (back, damage) = read_all(&bad);
            let damage = damage.unwrap_or_else(|| panic!("flip of bit {bit} went unnoticed"));
            // What is kept is a correct prefix, ending before the damaged record.
            assert_eq!(back, readings[..back.len()]);
            let byte = (bit / 8) as u64;
            assert!(damage.offset <= byte, "bit {bit}: {damage}");
            if byte >= 8 {
                let record = starts.iter().rposition(|&s| s as u64 <= byte).unwrap();
                assert_eq!(damage.offset, starts[record] as u64, "bit {bit}: {damage}");
            }
        }
    }

    #[test]
    fn foreign_empty_and_trailing_inputs() {
        assert!(matches!(read_all(b"").1.unwrap().kind, DamageKind::Empty));
        assert!(matches!(
            read_all(b"hello, world\n").1.unwrap().kind,
            DamageKind::Foreign
        ));
        let (_, mut bytes) = sample(1);
        bytes[6] = 9;
        let d = read_all(&bytes).1.unwrap();
        assert!(matches!(d.kind, DamageKind::UnsupportedVersion(9)));
        assert_eq!(d.offset, 6);
        let (readings, mut bytes) = sample(2);
        let end = bytes.len() as u64;
        bytes.push(0);
        let (back, d) = read_all(&bytes);
        assert_eq!(back, readings);
        assert!(matches!(
            d.as_ref().unwrap().kind,
            DamageKind::TrailingBytes
        ));
        assert_eq!(d.unwrap().offset, end);
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic generator of random-looking inputs, some with a valid header.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..2000 {
            let len = (i * 7) % 300;
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            if i % 2 == 0 && bytes.len() >= 8 {
                bytes[..6].copy_from_slice(&MAGIC);
                bytes[6..8].copy_from_slice(&VERSION.to_le_bytes());
            }
            let _ = read_all(&bytes);
        }
    }
}
