//! Parquet byte access for the async Arrow reader: positioned reads of a local file, or
//! range requests to an object store.
//!
//! Local tables bypass `object_store`'s local backend, which hands every read to a
//! blocking thread pool: a backend reading hundreds of small files spends more time on
//! those hand-offs than on decoding.

use bytes::Bytes;
use deltalake::parquet::arrow::arrow_reader::ArrowReaderOptions;
use deltalake::parquet::arrow::async_reader::AsyncFileReader;
use deltalake::parquet::errors::{ParquetError, Result};
use deltalake::parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use deltalake::{ObjectStore, Path};
use futures::future::{ready, BoxFuture};
use futures::FutureExt;
use object_store::ObjectStoreExt;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Bytes read at once from the end of a file: the footer and, usually, the metadata.
const FOOTER_PREFETCH: usize = 64 * 1024;

/// Where a file's bytes come from.
enum ByteSource {
    Local(File),
    Store(Arc<dyn ObjectStore>, Path),
}

/// One Parquet file, with its size known from the table's metadata or listing (so
/// reading the footer takes one request).
pub struct ObjectFileReader {
    source: ByteSource,
    size: u64,
}

impl ObjectFileReader {
    /// A reader of `path` (relative to the table root) of `size` bytes; local tables
    /// (`local_root` set) are read with positioned reads of the file itself.
    pub fn open(
        store: Arc<dyn ObjectStore>,
        local_root: Option<&std::path::Path>,
        path: Path,
        size: u64,
    ) -> std::io::Result<Self> {
        let source = match local_root {
            Some(root) => ByteSource::Local(File::open(root.join(path.as_ref()))?),
            None => ByteSource::Store(store, path),
        };
        Ok(ObjectFileReader { source, size })
    }
}

fn read_local(file: &File, range: Range<u64>) -> Result<Bytes> {
    let mut buf = vec![0u8; (range.end - range.start) as usize];
    file.read_exact_at(&mut buf, range.start)
        .map_err(|e| ParquetError::External(Box::new(e)))?;
    Ok(Bytes::from(buf))
}

fn external(e: deltalake::ObjectStoreError) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for ObjectFileReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes>> {
        match &self.source {
            ByteSource::Local(file) => ready(read_local(file, range)).boxed(),
            ByteSource::Store(store, path) => {
                async move { store.get_range(path, range).await.map_err(external) }.boxed()
            }
        }
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, Result<Vec<Bytes>>> {
        match &self.source {
            ByteSource::Local(file) => {
                ready(ranges.into_iter().map(|r| read_local(file, r)).collect()).boxed()
            }
            ByteSource::Store(store, path) => {
                async move { store.get_ranges(path, &ranges).await.map_err(external) }.boxed()
            }
        }
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_prefetch_hint(Some(FOOTER_PREFETCH))
                .with_page_index_policy(PageIndexPolicy::Optional)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}
