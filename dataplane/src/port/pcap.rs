//! `pcap:IN[,OUT][,loop]`: replay a capture file in, write what is sent out
//! to another.
//!
//! The classic libpcap format is small enough to read and write here, which
//! spares the switch a C library: a 24-byte file header (magic, version 2.4,
//! reserved fields, snaplen, link type) and per record a 16-byte header
//! (seconds, micro- or nanoseconds, captured length, original length)
//! followed by the captured bytes. The magic number tells both the byte
//! order of every later field and the timestamp resolution
//! (`a1b2c3d4`: microseconds, `a1b23c4d`: nanoseconds), so the reader
//! accepts all four combinations. Only `LINKTYPE_ETHERNET` (1) is accepted:
//! a switch port carries Ethernet frames.
//!
//! The reader never panics on a bad file and never allocates more than
//! [`MAX_RECORD`] for a record, whatever the header claims: every problem is
//! a typed [`PcapError`] carrying the record index and byte offset. The
//! port turns a bad record into `rx_errors` and ends the input there (the
//! error stays readable through [`PcapPort::input_error`]); a record that is
//! valid but longer than a packet buffer is counted in `rx_errors` and
//! skipped.
//!
//! Replay ignores the recorded timestamps and yields frames as fast as the
//! worker asks; the writer stamps each transmitted frame with the wall-clock
//! time it was written, in the resolution the spec asks for, always
//! little-endian.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{PortInfo, PortStats, synthetic_mac};
use crate::buf::{BufPool, MAX_FRAME, PacketBuf};

/// Microsecond-resolution magic number.
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Nanosecond-resolution magic number.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// File header length.
pub const FILE_HEADER_LEN: usize = 24;
/// Record header length.
pub const RECORD_HEADER_LEN: usize = 16;
/// The largest record the reader accepts, whatever the file's snaplen says
/// (libpcap's own limit for Ethernet).
pub const MAX_RECORD: u32 = 262_144;
/// The snaplen written into files this module creates.
pub const WRITE_SNAPLEN: u32 = 65_535;

/// What went wrong reading or writing a capture file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PcapError {
    /// The file could not be opened, read or written.
    #[error("pcap I/O on {path:?}: {source}")]
    Io {
        /// The file (empty when reading from a stream).
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The file ends inside its 24-byte header.
    #[error("pcap file header truncated ({len} of 24 bytes)")]
    TruncatedHeader {
        /// Bytes present.
        len: usize,
    },
    /// The first four bytes are not a classic pcap magic number.
    #[error("not a classic pcap file (magic {magic:02x?})")]
    BadMagic {
        /// The bytes found.
        magic: [u8; 4],
    },
    /// A format version other than 2.x.
    #[error("unsupported pcap version {major}.{minor}")]
    UnsupportedVersion {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// A link type other than Ethernet.
    #[error("unsupported pcap link type {linktype} (only Ethernet, 1)")]
    UnsupportedLinkType {
        /// The link type field (low 16 bits).
        linktype: u32,
    },
    /// The file ends inside a record header or record data.
    #[error("pcap record {index} at offset {offset} truncated")]
    TruncatedRecord {
        /// Record index (0-based).
        index: u64,
        /// Byte offset of the record header.
        offset: u64,
    },
    /// A record claims more captured bytes than the file's snaplen.
    #[error("pcap record {index} at offset {offset}: {incl_len} bytes exceed snaplen {snaplen}")]
    ExceedsSnaplen {
        /// Record index (0-based).
        index: u64,
        /// Byte offset of the record header.
        offset: u64,
        /// Captured length claimed.
        incl_len: u32,
        /// The file's snaplen.
        snaplen: u32,
    },
    /// A record claims more than [`MAX_RECORD`] captured bytes.
    #[error("pcap record {index} at offset {offset}: {incl_len} bytes is more than any frame")]
    RecordTooLong {
        /// Record index (0-based).
        index: u64,
        /// Byte offset of the record header.
        offset: u64,
        /// Captured length claimed.
        incl_len: u32,
    },
}

/// Timestamp resolution of a capture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsResolution {
    /// Microseconds (`a1b2c3d4`).
    Micros,
    /// Nanoseconds (`a1b23c4d`).
    Nanos,
}

/// A capture file's header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// Timestamp resolution.
    pub resolution: TsResolution,
    /// True when the file's fields are big-endian.
    pub big_endian: bool,
    /// Major version (2).
    pub version_major: u16,
    /// Minor version (4).
    pub version_minor: u16,
    /// Largest captured length a record may have.
    pub snaplen: u32,
    /// Link type (low 16 bits of the field).
    pub linktype: u32,
}

/// One record's header; the captured bytes are in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Seconds since the epoch.
    pub ts_sec: u32,
    /// Fraction of a second in the file's resolution.
    pub ts_frac: u32,
    /// Captured length (bytes in the buffer).
    pub incl_len: u32,
    /// Length of the frame on the wire.
    pub orig_len: u32,
}

/// Reads records from a classic pcap stream.
#[derive(Debug)]
pub struct PcapReader<R> {
    r: R,
    header: FileHeader,
    index: u64,
    offset: u64,
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn io_err(source: io::Error) -> PcapError {
    PcapError::Io {
        path: PathBuf::new(),
        source,
    }
}

impl<R: Read> PcapReader<R> {
    /// Reads and checks the file header.
    pub fn new(mut r: R) -> Result<Self, PcapError> {
        let mut h = [0u8; FILE_HEADER_LEN];
        let n = read_full(&mut r, &mut h).map_err(io_err)?;
        if n < 4 {
            return Err(PcapError::TruncatedHeader { len: n });
        }
        let magic = [h[0], h[1], h[2], h[3]];
        let (resolution, big_endian) = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic))
        {
            (MAGIC_MICROS, _) => (TsResolution::Micros, false),
            (MAGIC_NANOS, _) => (TsResolution::Nanos, false),
            (_, MAGIC_MICROS) => (TsResolution::Micros, true),
            (_, MAGIC_NANOS) => (TsResolution::Nanos, true),
            _ => return Err(PcapError::BadMagic { magic }),
        };
        if n < FILE_HEADER_LEN {
            return Err(PcapError::TruncatedHeader { len: n });
        }
        let u16_at = |i: usize| {
            let b = [h[i], h[i + 1]];
            if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        let u32_at = |i: usize| {
            let b = [h[i], h[i + 1], h[i + 2], h[i + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let header = FileHeader {
            resolution,
            big_endian,
            version_major: u16_at(4),
            version_minor: u16_at(6),
            snaplen: u32_at(16),
            linktype: u32_at(20) & 0xffff,
        };
        if header.version_major != 2 {
            return Err(PcapError::UnsupportedVersion {
                major: header.version_major,
                minor: header.version_minor,
            });
        }
        if header.linktype != LINKTYPE_ETHERNET {
            return Err(PcapError::UnsupportedLinkType {
                linktype: header.linktype,
            });
        }
        Ok(Self {
            r,
            header,
            index: 0,
            offset: FILE_HEADER_LEN as u64,
        })
    }

    /// The decoded file header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// Reads the next record into `buf` (replacing its contents); `Ok(None)`
    /// at a clean end of file.
    pub fn next_record(&mut self, buf: &mut Vec<u8>) -> Result<Option<RecordHeader>, PcapError> {
        let (index, offset) = (self.index, self.offset);
        let truncated = PcapError::TruncatedRecord { index, offset };
        let mut h = [0u8; RECORD_HEADER_LEN];
        match read_full(&mut self.r, &mut h).map_err(io_err)? {
            0 => return Ok(None),
            RECORD_HEADER_LEN => {}
            _ => return Err(truncated),
        }
        let be = self.header.big_endian;
        let u32_at = |i: usize| {
            let b = [h[i], h[i + 1], h[i + 2], h[i + 3]];
            if be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let rec = RecordHeader {
            ts_sec: u32_at(0),
            ts_frac: u32_at(4),
            incl_len: u32_at(8),
            orig_len: u32_at(12),
        };
        if rec.incl_len > MAX_RECORD {
            return Err(PcapError::RecordTooLong {
                index,
                offset,
                incl_len: rec.incl_len,
            });
        }
        if rec.incl_len > self.header.snaplen {
            return Err(PcapError::ExceedsSnaplen {
                index,
                offset,
                incl_len: rec.incl_len,
                snaplen: self.header.snaplen,
            });
        }
        let len = rec.incl_len as usize;
        buf.resize(len, 0);
        if read_full(&mut self.r, buf).map_err(io_err)? != len {
            return Err(truncated);
        }
        self.index += 1;
        self.offset += (RECORD_HEADER_LEN + len) as u64;
        Ok(Some(rec))
    }
}

impl<R: Read + Seek> PcapReader<R> {
    /// Goes back to the first record.
    pub fn rewind(&mut self) -> Result<(), PcapError> {
        self.r
            .seek(SeekFrom::Start(FILE_HEADER_LEN as u64))
            .map_err(io_err)?;
        self.index = 0;
        self.offset = FILE_HEADER_LEN as u64;
        Ok(())
    }
}

/// Writes a classic pcap stream (little-endian, Ethernet).
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    w: W,
    resolution: TsResolution,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(mut w: W, resolution: TsResolution) -> io::Result<Self> {
        let magic = match resolution {
            TsResolution::Micros => MAGIC_MICROS,
            TsResolution::Nanos => MAGIC_NANOS,
        };
        let mut h = [0u8; FILE_HEADER_LEN];
        h[0..4].copy_from_slice(&magic.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // 8..16: thiszone and sigfigs, zero by convention.
        h[16..20].copy_from_slice(&WRITE_SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        w.write_all(&h)?;
        Ok(Self { w, resolution })
    }

    /// Writes one record stamped `ts` (time since the epoch); frames longer
    /// than the snaplen are cut, keeping their original length.
    pub fn write_record(&mut self, ts: Duration, frame: &[u8]) -> io::Result<()> {
        let incl = frame.len().min(WRITE_SNAPLEN as usize);
        let frac = match self.resolution {
            TsResolution::Micros => ts.subsec_micros(),
            TsResolution::Nanos => ts.subsec_nanos(),
        };
        let mut h = [0u8; RECORD_HEADER_LEN];
        // Seconds wrap in 2106, as the format does.
        h[0..4].copy_from_slice(&(ts.as_secs() as u32).to_le_bytes());
        h[4..8].copy_from_slice(&frac.to_le_bytes());
        h[8..12].copy_from_slice(&(incl as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(frame.len().min(u32::MAX as usize) as u32).to_le_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(&frame[..incl])
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.w
    }
}

/// Options of a `pcap:` port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PcapSpec {
    /// File to replay in.
    pub input: Option<PathBuf>,
    /// File to write transmitted frames to (created or truncated).
    pub output: Option<PathBuf>,
    /// Start the input again at its end.
    pub looping: bool,
    /// Write nanosecond timestamps (default microseconds).
    pub nanosecond: bool,
}

impl PcapSpec {
    /// A spec with the given files, not looping, microsecond output.
    pub fn new(input: Option<PathBuf>, output: Option<PathBuf>) -> Self {
        Self {
            input,
            output,
            looping: false,
            nanosecond: false,
        }
    }
}

/// A port backed by capture files.
#[derive(Debug)]
pub struct PcapPort {
    reader: Option<PcapReader<BufReader<File>>>,
    input_path: PathBuf,
    looping: bool,
    /// Records read since the last rewind: a looping file with none stops
    /// instead of spinning.
    pass_records: u64,
    scratch: Vec<u8>,
    input_error: Option<PcapError>,
    writer: Option<PcapWriter<BufWriter<File>>>,
    output_path: PathBuf,
    output_error: Option<io::Error>,
    stats: Arc<PortStats>,
    info: PortInfo,
}

fn with_path(path: &Path) -> impl FnOnce(PcapError) -> PcapError + '_ {
    move |e| match e {
        PcapError::Io { source, .. } => PcapError::Io {
            path: path.into(),
            source,
        },
        e => e,
    }
}

impl PcapPort {
    /// Opens the input (checking its header) and creates the output.
    pub fn open(name: &str, spec: &PcapSpec) -> Result<Self, PcapError> {
        let reader = match &spec.input {
            Some(p) => {
                let f = File::open(p).map_err(|source| PcapError::Io {
                    path: p.clone(),
                    source,
                })?;
                Some(PcapReader::new(BufReader::with_capacity(1 << 16, f)).map_err(with_path(p))?)
            }
            None => None,
        };
        let writer = match &spec.output {
            Some(p) => {
                let io = |source| PcapError::Io {
                    path: p.clone(),
                    source,
                };
                let f = File::create(p).map_err(io)?;
                let res = if spec.nanosecond {
                    TsResolution::Nanos
                } else {
                    TsResolution::Micros
                };
                Some(PcapWriter::new(BufWriter::with_capacity(1 << 16, f), res).map_err(io)?)
            }
            None => None,
        };
        Ok(Self {
            reader,
            input_path: spec.input.clone().unwrap_or_default(),
            looping: spec.looping,
            pass_records: 0,
            scratch: Vec::with_capacity(MAX_FRAME),
            input_error: None,
            writer,
            output_path: spec.output.clone().unwrap_or_default(),
            output_error: None,
            stats: Arc::new(PortStats::new(true)),
            info: PortInfo {
                name: name.into(),
                hw_addr: synthetic_mac(name),
                mtu: (MAX_FRAME - 18) as u32,
                ..PortInfo::default()
            },
        })
    }

    /// See [`super::Port::rx_batch`].
    pub fn rx_batch(&mut self, pool: &mut BufPool, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        let Some(reader) = self.reader.as_mut() else {
            return 0;
        };
        let (mut n, mut bytes, mut errors) = (0usize, 0u64, 0u64);
        let mut finished = false;
        while n < max {
            match reader.next_record(&mut self.scratch) {
                Ok(Some(_)) => {
                    self.pass_records += 1;
                    let mut b = pool.get();
                    if b.fill(&self.scratch) {
                        bytes += self.scratch.len() as u64;
                        out.push(b);
                        n += 1;
                    } else {
                        pool.put(b);
                        errors += 1;
                    }
                }
                Ok(None) if self.looping && self.pass_records > 0 => {
                    self.pass_records = 0;
                    if let Err(e) = reader.rewind() {
                        self.input_error = Some(with_path(&self.input_path)(e));
                        errors += 1;
                        finished = true;
                        break;
                    }
                }
                Ok(None) => {
                    finished = true;
                    break;
                }
                Err(e) => {
                    self.input_error = Some(with_path(&self.input_path)(e));
                    errors += 1;
                    finished = true;
                    break;
                }
            }
        }
        if finished {
            self.reader = None;
        }
        self.stats.rx(n as u64, bytes);
        if errors != 0 {
            self.stats.rx_error(errors);
        }
        n
    }

    /// See [`super::Port::tx`]. Without an output file the frame is
    /// dropped and counted.
    pub fn tx(&mut self, pkt: PacketBuf, pool: &mut BufPool) {
        match self.writer.as_mut() {
            Some(w) => {
                let ts = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default();
                match w.write_record(ts, pkt.data()) {
                    Ok(()) => self.stats.tx(1, pkt.len() as u64),
                    Err(e) => {
                        self.stats.tx_error(1);
                        self.output_error = Some(e);
                    }
                }
            }
            None => self.stats.tx_dropped(1),
        }
        pool.put(pkt);
    }

    /// Writes buffered records to the output file.
    pub fn flush(&mut self) {
        if let Some(w) = self.writer.as_mut()
            && let Err(e) = w.flush()
        {
            self.stats.tx_error(1);
            self.output_error = Some(e);
        }
    }

    /// A capture port's link is always up.
    pub fn refresh_link(&mut self) -> Option<bool> {
        None
    }

    /// The port's counters.
    pub fn stats(&self) -> &Arc<PortStats> {
        &self.stats
    }

    /// What `ofp_port` reports.
    pub fn info(&self) -> &PortInfo {
        &self.info
    }

    /// True once the input has ended (or there is none).
    pub fn input_done(&self) -> bool {
        self.reader.is_none()
    }

    /// The error that ended the input early, if any.
    pub fn input_error(&self) -> Option<&PcapError> {
        self.input_error.as_ref()
    }

    /// The last error writing the output, if any.
    pub fn output_error(&self) -> Option<&io::Error> {
        self.output_error.as_ref()
    }

    /// The output file's path (empty when there is none).
    pub fn output_path(&self) -> &Path {
        &self.output_path
    }
}

impl Drop for PcapPort {
    fn drop(&mut self) {
        // BufWriter flushes on drop too but swallows the error; flushing
        // here at least counts it for anyone holding the stats.
        self.flush();
    }
}

/// Fuzzing entry point: reads every record of `data` as a capture file.
#[cfg(fuzzing)]
pub fn fuzz_reader(data: &[u8]) {
    let Ok(mut r) = PcapReader::new(data) else {
        return;
    };
    let mut buf = Vec::new();
    while let Ok(Some(h)) = r.next_record(&mut buf) {
        assert_eq!(h.incl_len as usize, buf.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A big-endian nanosecond file with one 4-byte record, written by hand
    /// from the format description.
    const BE_NANOS: [u8; 44] = [
        0xa1, 0xb2, 0x3c, 0x4d, // magic, big-endian, nanoseconds
        0x00, 0x02, 0x00, 0x04, // version 2.4
        0, 0, 0, 0, 0, 0, 0, 0, // thiszone, sigfigs
        0x00, 0x00, 0xff, 0xff, // snaplen 65535
        0x00, 0x00, 0x00, 0x01, // Ethernet
        0x00, 0x00, 0x00, 0x05, // ts_sec 5
        0x00, 0x00, 0x00, 0x07, // ts_nsec 7
        0x00, 0x00, 0x00, 0x04, // incl_len 4
        0x00, 0x00, 0x00, 0x40, // orig_len 64
        0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn reads_big_endian_nanoseconds() {
        let mut r = PcapReader::new(&BE_NANOS[..]).unwrap();
        assert_eq!(r.header().resolution, TsResolution::Nanos);
        assert!(r.header().big_endian);
        assert_eq!(r.header().snaplen, 65535);
        let mut buf = Vec::new();
        let rec = r.next_record(&mut buf).unwrap().unwrap();
        assert_eq!(
            rec,
            RecordHeader {
                ts_sec: 5,
                ts_frac: 7,
                incl_len: 4,
                orig_len: 64
            }
        );
        assert_eq!(buf, [0xde, 0xad, 0xbe, 0xef]);
        assert!(r.next_record(&mut buf).unwrap().is_none());
    }

    #[test]
    fn writes_little_endian_micros_header() {
        let mut w = PcapWriter::new(Vec::new(), TsResolution::Micros).unwrap();
        w.write_record(Duration::new(1, 2_000), &[1, 2]).unwrap();
        let v = w.into_inner();
        assert_eq!(
            v,
            [
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0,
                0, 0, // header
                1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 2
            ]
        );
    }

    #[test]
    fn malformed_files_give_typed_errors() {
        assert!(matches!(
            PcapReader::new(&BE_NANOS[..3]),
            Err(PcapError::TruncatedHeader { len: 3 })
        ));
        assert!(matches!(
            PcapReader::new(&BE_NANOS[..10]),
            Err(PcapError::TruncatedHeader { len: 10 })
        ));
        let mut bad = BE_NANOS;
        bad[0] = 0;
        assert!(matches!(
            PcapReader::new(&bad[..]),
            Err(PcapError::BadMagic { .. })
        ));
        let mut v = BE_NANOS;
        v[4] = 3; // major version 0x0301
        v[5] = 1;
        assert!(matches!(
            PcapReader::new(&v[..]),
            Err(PcapError::UnsupportedVersion { major: 0x0301, .. })
        ));
        let mut lt = BE_NANOS;
        lt[23] = 113; // Linux cooked capture
        assert!(matches!(
            PcapReader::new(&lt[..]),
            Err(PcapError::UnsupportedLinkType { linktype: 113 })
        ));
        let mut buf = Vec::new();
        for cut in [25, 39, 40, 43] {
            let mut r = PcapReader::new(&BE_NANOS[..cut]).unwrap();
            assert!(
                matches!(
                    r.next_record(&mut buf),
                    Err(PcapError::TruncatedRecord {
                        index: 0,
                        offset: 24
                    })
                ),
                "cut at {cut}"
            );
        }
        let mut snap = BE_NANOS;
        snap[16..20].copy_from_slice(&3u32.to_be_bytes()); // snaplen 3
        let mut r = PcapReader::new(&snap[..]).unwrap();
        assert!(matches!(
            r.next_record(&mut buf),
            Err(PcapError::ExceedsSnaplen {
                incl_len: 4,
                snaplen: 3,
                ..
            })
        ));
        let mut huge = BE_NANOS;
        huge[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        huge[32..36].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
        let mut r = PcapReader::new(&huge[..]).unwrap();
        assert!(matches!(
            r.next_record(&mut buf),
            Err(PcapError::RecordTooLong {
                incl_len: 0x7fff_ffff,
                ..
            })
        ));
    }
}
