//! Unit tests of the Redis writer: the commands a commit would send, checked as built (no server).

use super::*;
use crate::options::Options;
use crate::redis::options::{ServerOptions, TableOptions};
use crate::rowid::identify;
use crate::types::PgType;
use deltalake::arrow::array::{Float64Array, Int64Array, StringArray};
use std::sync::Arc;

/// A table of `kind` over keys `k:{id}` (`id bigint`) with these other columns; the
/// server is never contacted (nothing listens on its port).
fn table(options: &[(&str, &str)], columns: &[(&str, PgType, Option<&str>)]) -> RedisTable {
    let server = ServerOptions::from_options(
        &Options::new([("url".to_string(), "redis://127.0.0.1:1".to_string())]),
        &Options::default(),
    )
    .unwrap();
    let options = TableOptions::from_options(&Options::new(
        [("key_template", "k:{id}")]
            .iter()
            .chain(options)
            .map(|(k, v)| (k.to_string(), v.to_string())),
    ))
    .unwrap();
    let mut declared = vec![("id".to_string(), PgType::Int8, None)];
    declared.extend(
        columns
            .iter()
            .map(|(n, t, f)| (n.to_string(), t.clone(), f.map(str::to_string))),
    );
    RedisTable::new(server, options, &declared).unwrap()
}

fn hash() -> RedisTable {
    table(
        &[],
        &[
            ("name", PgType::Text, None),
            ("age", PgType::Int4, Some("years")),
        ],
    )
}

fn rows(ids: &[i64], columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let mut all = vec![("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef)];
    all.extend(columns);
    RecordBatch::try_from_iter(all).unwrap()
}

fn texts(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn names(ids: &[i64], names: &[Option<&str>]) -> RecordBatch {
    rows(ids, vec![("name", texts(names))])
}

/// The commands `writer` sends for each change staged in memory, as text.
fn commands(writer: &RedisWriter) -> Vec<Vec<String>> {
    let mut pipe = ::redis::pipe();
    for change in writer.changes.iter().flatten() {
        writer.add_commands(&mut pipe, change);
    }
    texts_of(&pipe)
}

fn texts_of(pipe: &::redis::Pipeline) -> Vec<Vec<String>> {
    pipe.cmd_iter()
        .map(|command| {
            command
                .args_iter()
                .map(|arg| match arg {
                    ::redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    _ => "<cursor>".into(),
                })
                .collect()
        })
        .collect()
}

fn words(text: &str) -> Vec<String> {
    text.split(' ').map(str::to_string).collect()
}

/// The commands a commit would send, spilled changes first (as `commit` reads
/// them: cancelled ones skipped, replacing ones marked).
fn staged(writer: &mut RedisWriter) -> Vec<Vec<String>> {
    let mut changes = Vec::new();
    if let Some(spill) = writer.spill.as_mut() {
        let (cancelled, replacing) = (&writer.spilled_cancelled, &writer.spilled_replacing);
        spill
            .read(|position, change| {
                if let Some(mut change) = change.filter(|_| !cancelled.contains(&position)) {
                    if let Change::Put { replace, .. } = &mut change {
                        *replace |= replacing.contains(&position);
                    }
                    changes.push(change);
                }
                Ok(())
            })
            .unwrap();
    }
    changes.extend(writer.changes.iter().flatten().cloned());
    let mut pipe = ::redis::pipe();
    for change in &changes {
        writer.add_commands(&mut pipe, change);
    }
    texts_of(&pipe)
}

#[test]
fn hash_rows_set_their_fields_and_remove_null_ones() {
    let mut writer = RedisWriter::new(hash());
    let batch = rows(
        &[1, 2],
        vec![
            ("name", texts(&[Some("ann"), None])),
            (
                "age",
                Arc::new(deltalake::arrow::array::Int32Array::from(vec![30, 41])),
            ),
        ],
    );
    writer.write(&batch, false).unwrap();
    assert_eq!(
        commands(&writer),
        vec![
            words("HSET k:1 name ann years 30"),
            words("HSET k:2 years 41"),
            words("HDEL k:2 name"),
        ]
    );
    // columns a batch does not carry are left alone
    let mut partial = RedisWriter::new(hash());
    partial.write(&names(&[3], &[Some("cy")]), false).unwrap();
    assert_eq!(commands(&partial), vec![words("HSET k:3 name cy")]);
}

#[test]
fn rows_redis_cannot_hold_are_refused() {
    let mut writer = RedisWriter::new(hash());
    // a NULL key column names no key
    let null_key = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(vec![None])) as ArrayRef),
        ("name", texts(&[Some("x")])),
    ])
    .unwrap();
    assert!(matches!(writer.write(&null_key, false), Err(RedisError::NullKey(c)) if c == "id"));
    // a key column missing from the batch
    assert!(matches!(
        writer.write(
            &RecordBatch::try_from_iter(vec![("name", texts(&[Some("x")]))]).unwrap(),
            false
        ),
        Err(RedisError::NullKey(_))
    ));
    // Redis has no empty hashes
    assert!(matches!(
        writer.write(&names(&[1], &[None]), false),
        Err(RedisError::EmptyHash(key)) if key == "k:1"
    ));
    assert!(writer.is_empty());

    let zset = table(
        &[("kind", "zset")],
        &[
            ("member", PgType::Text, None),
            ("score", PgType::Float8, None),
        ],
    );
    let mut writer = RedisWriter::new(zset);
    let scored = |member: Option<&str>, score: f64| {
        rows(
            &[1],
            vec![
                ("member", texts(&[member])),
                (
                    "score",
                    Arc::new(Float64Array::from(vec![score])) as ArrayRef,
                ),
            ],
        )
    };
    assert!(matches!(
        writer.write(&scored(Some("m"), f64::NAN), false),
        Err(RedisError::KeyValue { column, .. }) if column == "score"
    ));
    assert!(matches!(
        writer.write(&scored(None, 1.0), false),
        Err(RedisError::NullElement(_))
    ));
    writer.write(&scored(Some("m"), 2.5), false).unwrap();
    assert_eq!(commands(&writer), vec![words("ZADD k:1 2.5 m")]);

    // a string set to NULL: refused on INSERT, the key deleted on UPDATE
    let string = table(&[("kind", "string")], &[("value", PgType::Text, None)]);
    let mut writer = RedisWriter::new(string);
    let value = |v: Option<&str>| rows(&[7], vec![("value", texts(&[v]))]);
    assert!(matches!(
        writer.write(&value(None), false),
        Err(RedisError::NullElement(_))
    ));
    writer.write(&value(Some("v")), false).unwrap();
    writer.write(&value(None), true).unwrap();
    assert_eq!(
        commands(&writer),
        vec![words("SET k:7 v"), words("DEL k:7")]
    );
}

#[test]
fn an_update_keeping_its_key_cancels_the_delete_of_the_old_row() {
    let mut writer = RedisWriter::new(hash());
    let old = identify("k:1", None).unwrap();
    writer.delete(&[old]).unwrap();
    writer.write(&names(&[1], &[Some("new")]), true).unwrap();
    // the hash is updated field by field (undeclared fields stay), never deleted
    assert_eq!(commands(&writer), vec![words("HSET k:1 name new")]);
    assert!(!writer.is_empty());
    assert_eq!(writer.changes.iter().flatten().count(), 1);
}

#[test]
fn an_update_moving_a_row_onto_a_key_deleted_later_replaces_it() {
    // UPDATE moves row 2 to key 1, then deletes the old row at key 1 (read before)
    let mut writer = RedisWriter::new(hash());
    writer.write(&names(&[1], &[Some("moved")]), true).unwrap();
    writer.delete(&[identify("k:1", None).unwrap()]).unwrap();
    writer.delete(&[identify("k:2", None).unwrap()]).unwrap();
    assert_eq!(
        commands(&writer),
        vec![
            words("DEL k:1"),
            words("HSET k:1 name moved"),
            words("DEL k:2")
        ]
    );

    // a set member put back by the same UPDATE is not removed after it
    let set = table(&[("kind", "set")], &[("tag", PgType::Text, None)]);
    let mut writer = RedisWriter::new(set);
    writer
        .write(&rows(&[5], vec![("tag", texts(&[Some("a")]))]), true)
        .unwrap();
    writer
        .delete(&[identify("k:5", Some(b"a")).unwrap()])
        .unwrap();
    writer
        .delete(&[identify("k:5", Some(b"b")).unwrap()])
        .unwrap();
    assert_eq!(
        commands(&writer),
        vec![words("SADD k:5 a"), words("SREM k:5 b")]
    );
}

#[test]
fn rollback_forgets_the_changes_and_the_bookkeeping_after_the_mark() {
    let mut writer = RedisWriter::new(hash());
    writer.write(&names(&[1], &[Some("a")]), false).unwrap();
    let mark = writer.savepoint();
    assert_eq!(mark, 1);
    writer.delete(&[identify("k:2", None).unwrap()]).unwrap();
    writer.write(&names(&[3], &[Some("c")]), true).unwrap();
    writer.rollback_to(mark);
    assert_eq!(writer.savepoint(), 1);
    // neither the rolled-back delete of k:2 nor the put of k:3 is found again
    writer.write(&names(&[2], &[Some("b")]), true).unwrap();
    writer.delete(&[identify("k:3", None).unwrap()]).unwrap();
    assert_eq!(
        commands(&writer),
        vec![
            words("HSET k:1 name a"),
            words("HSET k:2 name b"),
            words("DEL k:3")
        ]
    );
    writer.rollback_to(0);
    assert!(writer.is_empty());
    assert_eq!(writer.changes_bytes, 0);
}

#[test]
fn rollback_reaches_into_spilled_changes() {
    let mut writer = RedisWriter::new(hash());
    // earlier statements: an INSERT, and an UPDATE keeping its key (delete cancelled)
    writer
        .write(&names(&[1, 2], &[Some("a"), Some("b")]), false)
        .unwrap();
    writer.delete(&[identify("k:3", None).unwrap()]).unwrap();
    writer.write(&names(&[3], &[Some("c")]), true).unwrap();
    // (what passing the memory budget does)
    writer.spill_changes().unwrap();
    assert_eq!((writer.spilled(), writer.changes.len()), (4, 0));
    assert_eq!(writer.spilled_live, 3);
    // a subtransaction's UPDATE: its changes spill part-way, and the rest of the
    // statement cancels a spilled delete and makes a spilled put replace its key
    let mark = writer.savepoint();
    assert_eq!(mark, 4);
    writer.delete(&[identify("k:7", None).unwrap()]).unwrap();
    writer.write(&names(&[8], &[Some("h")]), true).unwrap();
    writer.spill_changes().unwrap();
    writer.write(&names(&[7], &[Some("g")]), true).unwrap();
    writer.delete(&[identify("k:8", None).unwrap()]).unwrap();
    assert_eq!(writer.spilled_cancelled, [4].into_iter().collect());
    assert_eq!(writer.spilled_replacing, [5].into_iter().collect());
    assert_eq!(writer.spilled_live, 4);
    assert_eq!(
        staged(&mut writer),
        vec![
            words("HSET k:1 name a"),
            words("HSET k:2 name b"),
            words("HSET k:3 name c"),
            words("DEL k:8"),
            words("HSET k:8 name h"),
            words("HSET k:7 name g"),
        ]
    );
    // the subtransaction aborts: the spill is cut back to the mark, with the
    // cancellations and replacements of the changes it drops
    writer.rollback_to(mark);
    assert_eq!((writer.spilled(), writer.changes.len()), (4, 0));
    assert!(writer.spilled_cancelled.is_empty());
    assert!(writer.spilled_replacing.is_empty());
    assert_eq!(writer.spilled_live, 3);
    assert!(writer.broken.is_none());
    assert_eq!(
        staged(&mut writer),
        vec![
            words("HSET k:1 name a"),
            words("HSET k:2 name b"),
            words("HSET k:3 name c"),
        ]
    );
    // new changes go on after the kept ones
    writer.write(&names(&[9], &[Some("i")]), false).unwrap();
    assert_eq!(writer.savepoint(), 5);
    writer.rollback_to(0);
    assert!(writer.is_empty());
}

#[test]
fn a_commit_of_nothing_sends_nothing() {
    let mut writer = RedisWriter::new(hash());
    assert_eq!(writer.commit().unwrap(), 0);
    writer.write(&names(&[1], &[Some("a")]), false).unwrap();
    writer.rollback_to(0);
    // (the server's port is closed: any command would fail)
    assert_eq!(writer.commit().unwrap(), 0);
}

#[test]
fn list_elements_cannot_be_deleted_by_identity() {
    let list = table(&[("kind", "list")], &[("value", PgType::Text, None)]);
    let mut writer = RedisWriter::new(list);
    assert!(matches!(
        writer.delete(&[identify("k:1", None).unwrap()]),
        Err(RedisError::Unsupported(_))
    ));
    assert!(matches!(
        writer.delete(&[u64::MAX >> 16]),
        Err(RedisError::RowId(_))
    ));
}

#[test]
fn every_kind_gets_its_commands_and_the_expiry() {
    let value = |v: &str| rows(&[1], vec![("value", texts(&[Some(v)]))]);
    let string = table(
        &[("kind", "string"), ("ttl_seconds", "60")],
        &[("value", PgType::Text, None)],
    );
    let mut writer = RedisWriter::new(string);
    writer.write(&value("v"), false).unwrap();
    assert_eq!(
        commands(&writer),
        vec![words("SET k:1 v"), words("EXPIRE k:1 60")]
    );
    let list = table(&[("kind", "list")], &[("value", PgType::Text, None)]);
    let mut writer = RedisWriter::new(list);
    writer.write(&value("x"), false).unwrap();
    writer.write(&value("y"), false).unwrap();
    assert_eq!(
        commands(&writer),
        vec![words("RPUSH k:1 x"), words("RPUSH k:1 y")]
    );
    let stream = table(
        &[("kind", "stream"), ("stream_maxlen", "100")],
        &[("event", PgType::Text, None), ("note", PgType::Text, None)],
    );
    let mut writer = RedisWriter::new(stream);
    let entry = rows(
        &[1],
        vec![("event", texts(&[Some("click")])), ("note", texts(&[None]))],
    );
    writer.write(&entry, false).unwrap();
    assert_eq!(
        commands(&writer),
        vec![words("XADD k:1 MAXLEN ~ 100 * event click")]
    );
    let zset = table(
        &[("kind", "zset")],
        &[
            ("member", PgType::Text, None),
            ("score", PgType::Float8, None),
        ],
    );
    let mut writer = RedisWriter::new(zset);
    writer
        .delete(&[identify("k:1", Some(b"m")).unwrap()])
        .unwrap();
    writer.delete(&[identify("k:2", None).unwrap()]).unwrap();
    assert_eq!(
        commands(&writer),
        vec![words("ZREM k:1 m"), words("DEL k:2")]
    );
}
