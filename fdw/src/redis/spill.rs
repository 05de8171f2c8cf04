//! A Redis writer's oldest changes, kept in a temporary file until the commit sends
//! them, so a transaction of millions of changes holds a bounded amount of memory.
//!
//! Changes are appended in order and read back in order. A rollback to a savepoint
//! inside the file truncates it: every [`CHECKPOINT_EVERY`]-th change's offset is kept,
//! and the rest of the way is read.

use super::error::{RedisError, Result};
use super::table::ColumnSource;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// Offsets kept: one every this many changes.
const CHECKPOINT_EVERY: usize = 1024;

/// One change as the writer stages it (see `super::write`).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// write a row: its stored values by where they go (`None`: NULL); `replace`
    /// removes the key first (its old row was deleted by the statement that wrote this)
    Put {
        key: String,
        values: Vec<(ColumnSource, Option<Vec<u8>>)>,
        replace: bool,
    },
    /// remove the key, or one member of the set or sorted set under it
    Delete {
        key: String,
        member: Option<Vec<u8>>,
    },
}

impl Change {
    /// About how much memory the change takes.
    pub fn size(&self) -> usize {
        64 + match self {
            Change::Put { key, values, .. } => {
                key.len()
                    + values
                        .iter()
                        .map(|(s, v)| 48 + source_size(s) + v.as_ref().map_or(0, Vec::len))
                        .sum::<usize>()
            }
            Change::Delete { key, member } => key.len() + member.as_ref().map_or(0, Vec::len),
        }
    }
}

fn source_size(source: &ColumnSource) -> usize {
    match source {
        ColumnSource::Field(name) => name.len(),
        _ => 0,
    }
}

/// Changes `0..len()` of a writer, on disk.
pub struct ChangeSpill {
    path: PathBuf,
    out: BufWriter<File>,
    count: usize,
    /// offset of change `i * CHECKPOINT_EVERY`
    checkpoints: Vec<u64>,
    /// bytes written so far
    end: u64,
}

impl ChangeSpill {
    /// A new, empty spill file in `dir`.
    pub fn create(dir: PathBuf) -> Result<ChangeSpill> {
        let path = dir.join(format!(
            "{}redis_{}",
            crate::runtime::SPILL_PREFIX,
            crate::runtime::unique_name()
        ));
        let file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        Ok(ChangeSpill {
            path,
            out: BufWriter::new(file),
            count: 0,
            checkpoints: Vec::new(),
            end: 0,
        })
    }

    /// How many changes the file holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the file holds no change.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends `change` (`None`: a cancelled one, kept so positions stay).
    pub fn push(&mut self, change: Option<&Change>) -> Result<()> {
        if self.count.is_multiple_of(CHECKPOINT_EVERY) {
            self.checkpoints.push(self.end);
        }
        let mut record = Vec::new();
        encode(change, &mut record);
        self.out
            .write_all(&record)
            .map_err(|e| io_error(&self.path, e))?;
        self.end += record.len() as u64;
        self.count += 1;
        Ok(())
    }

    /// Forgets the changes from position `len` on.
    pub fn truncate(&mut self, len: usize) -> Result<()> {
        if len >= self.count {
            return Ok(());
        }
        self.out.flush().map_err(|e| io_error(&self.path, e))?;
        let checkpoint = len / CHECKPOINT_EVERY;
        let mut offset = self.checkpoints[checkpoint];
        let mut input = self.reader_at(offset)?;
        for _ in checkpoint * CHECKPOINT_EVERY..len {
            let before = offset;
            decode(&mut input, &self.path)?;
            offset = before + last_record_len(&mut input);
        }
        let file = self.out.get_mut();
        file.set_len(offset).map_err(|e| io_error(&self.path, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| io_error(&self.path, e))?;
        self.end = offset;
        self.count = len;
        self.checkpoints.truncate(len.div_ceil(CHECKPOINT_EVERY));
        Ok(())
    }

    /// Reads every change back, in order (`None`: cancelled when it was written).
    pub fn read(
        &mut self,
        mut each: impl FnMut(usize, Option<Change>) -> Result<()>,
    ) -> Result<()> {
        self.out.flush().map_err(|e| io_error(&self.path, e))?;
        let mut input = self.reader_at(0)?;
        for position in 0..self.count {
            let change = decode(&mut input, &self.path)?;
            each(position, change)?;
        }
        Ok(())
    }

    fn reader_at(&self, offset: u64) -> Result<CountingReader> {
        let mut file = File::open(&self.path).map_err(|e| io_error(&self.path, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| io_error(&self.path, e))?;
        Ok(CountingReader {
            inner: BufReader::new(file),
            read: 0,
        })
    }
}

impl Drop for ChangeSpill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A reader that counts the bytes of the record being decoded.
struct CountingReader {
    inner: BufReader<File>,
    read: u64,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// The bytes of the record just decoded (and starts counting the next one).
fn last_record_len(input: &mut CountingReader) -> u64 {
    std::mem::take(&mut input.read)
}

fn encode(change: Option<&Change>, out: &mut Vec<u8>) {
    match change {
        None => out.push(0),
        Some(Change::Put {
            key,
            values,
            replace,
        }) => {
            out.push(if *replace { 2 } else { 1 });
            bytes(out, key.as_bytes());
            out.extend_from_slice(&(values.len() as u32).to_le_bytes());
            for (source, value) in values {
                match source {
                    ColumnSource::Key(i) => {
                        out.push(0);
                        out.extend_from_slice(&(*i as u32).to_le_bytes());
                    }
                    ColumnSource::Field(name) => {
                        out.push(1);
                        bytes(out, name.as_bytes());
                    }
                    ColumnSource::Value => out.push(2),
                    ColumnSource::Member => out.push(3),
                    ColumnSource::Score => out.push(4),
                    ColumnSource::Position => out.push(5),
                }
                optional(out, value.as_deref());
            }
        }
        Some(Change::Delete { key, member }) => {
            out.push(3);
            bytes(out, key.as_bytes());
            optional(out, member.as_deref());
        }
    }
}

fn bytes(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
}

fn optional(out: &mut Vec<u8>, data: Option<&[u8]>) {
    match data {
        None => out.push(0),
        Some(data) => {
            out.push(1);
            bytes(out, data);
        }
    }
}

fn decode(input: &mut impl Read, path: &std::path::Path) -> Result<Option<Change>> {
    let bad = |what: &str| {
        RedisError::Command(format!("spill file {} is damaged: {what}", path.display()))
    };
    let byte = |input: &mut dyn Read| -> Result<u8> {
        let mut b = [0u8];
        input.read_exact(&mut b).map_err(|e| io_error(path, e))?;
        Ok(b[0])
    };
    let tag = byte(input)?;
    match tag {
        0 => Ok(None),
        1 | 2 => {
            let key = text(input, path)?;
            let n = u32_of(input, path)?;
            let mut values = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let source = match byte(input)? {
                    0 => ColumnSource::Key(u32_of(input, path)? as usize),
                    1 => ColumnSource::Field(text(input, path)?),
                    2 => ColumnSource::Value,
                    3 => ColumnSource::Member,
                    4 => ColumnSource::Score,
                    5 => ColumnSource::Position,
                    _ => return Err(bad("column source")),
                };
                values.push((source, optional_of(input, path)?));
            }
            Ok(Some(Change::Put {
                key,
                values,
                replace: tag == 2,
            }))
        }
        3 => Ok(Some(Change::Delete {
            key: text(input, path)?,
            member: optional_of(input, path)?,
        })),
        _ => Err(bad("change tag")),
    }
}

fn u32_of(input: &mut impl Read, path: &std::path::Path) -> Result<u32> {
    let mut b = [0u8; 4];
    input.read_exact(&mut b).map_err(|e| io_error(path, e))?;
    Ok(u32::from_le_bytes(b))
}

fn bytes_of(input: &mut impl Read, path: &std::path::Path) -> Result<Vec<u8>> {
    let n = u32_of(input, path)? as usize;
    let mut data = vec![0u8; n];
    input.read_exact(&mut data).map_err(|e| io_error(path, e))?;
    Ok(data)
}

fn text(input: &mut impl Read, path: &std::path::Path) -> Result<String> {
    String::from_utf8(bytes_of(input, path)?)
        .map_err(|_| RedisError::Command(format!("spill file {} is damaged: text", path.display())))
}

fn optional_of(input: &mut impl Read, path: &std::path::Path) -> Result<Option<Vec<u8>>> {
    let mut b = [0u8];
    input.read_exact(&mut b).map_err(|e| io_error(path, e))?;
    match b[0] {
        0 => Ok(None),
        _ => bytes_of(input, path).map(Some),
    }
}

fn io_error(path: &std::path::Path, e: std::io::Error) -> RedisError {
    RedisError::Command(format!("spilling changes to {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(i: usize) -> Change {
        Change::Put {
            key: format!("k:{i}"),
            values: vec![
                (
                    ColumnSource::Field("f".into()),
                    Some(i.to_string().into_bytes()),
                ),
                (ColumnSource::Field("g".into()), None),
                (ColumnSource::Key(0), None),
            ],
            replace: i.is_multiple_of(3),
        }
    }

    #[test]
    fn changes_come_back_in_order_and_truncate_at_any_position() {
        let mut spill = ChangeSpill::create(std::env::temp_dir()).unwrap();
        for i in 0..3000usize {
            let change = match i % 5 {
                4 => Some(Change::Delete {
                    key: format!("k:{i}"),
                    member: i.is_multiple_of(2).then(|| vec![1, 2]),
                }),
                3 => None,
                _ => Some(put(i)),
            };
            spill.push(change.as_ref()).unwrap();
        }
        spill.truncate(2049).unwrap();
        spill.push(Some(&put(9999))).unwrap();
        let mut seen = Vec::new();
        spill
            .read(|position, change| {
                seen.push((position, change));
                Ok(())
            })
            .unwrap();
        assert_eq!(seen.len(), 2050);
        assert_eq!(seen[0].1, Some(put(0)));
        assert_eq!(seen[3].1, None);
        assert_eq!(seen[2047].1, Some(put(2047)));
        assert_eq!(seen[2048].1, None);
        assert_eq!(seen[2049].1, Some(put(9999)));
        let path = spill.path.clone();
        drop(spill);
        assert!(!path.exists());
    }
}
