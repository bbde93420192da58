//! RDB persistence on the server side: SAVE, loading the RDB file at start-up, and saving at
//! shutdown, in Redis's file format (the `persist` crate) and with Redis's log lines.
//!
//! SAVE takes a point-in-time snapshot by holding every slot lock of every database while it
//! writes, which blocks all clients for the duration, exactly as Redis's SAVE blocks its server.
//! BGSAVE (a forkless snapshot that marks slots and serializes a slot before its first write)
//! is not built yet. Files are written to a temporary file, fsynced, renamed over the target
//! and the directory fsynced, so a crash leaves either the old file or the new one, never a
//! torn one. This module never runs on the request hot path.

use crate::shared::{now_ms, Shared};
use crate::{notice, warning};
use keyspace::{key_hash_slot, LockSet, SLOT_COUNT};
use parking_lot::Mutex;
use persist::rdb::{RdbItem, RdbReader, RdbWriter};
use persist::EncodeLimits;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;

/// What INFO persistence reports about saves and the last load.
#[derive(Debug, Default)]
pub struct PersistState {
    pub saving: bool,
    pub last_save_ok: bool,
    pub rdb_saves: u64,
    pub last_load_keys_loaded: u64,
    pub last_load_keys_expired: u64,
}

pub fn new_state() -> Mutex<PersistState> {
    Mutex::new(PersistState { last_save_ok: true, ..Default::default() })
}

/// Redis's `rdbSave`: writes every database to `dir`/`dbfilename`. On success resets the
/// change counter and LASTSAVE; on failure logs why, as Redis does, and returns the error.
pub fn save(shared: &Shared) -> std::io::Result<()> {
    {
        let mut st = shared.persist.lock();
        if st.saving {
            return Err(std::io::Error::other("a save is already in progress"));
        }
        st.saving = true;
    }
    let (path, limits, checksum) = {
        let cfg = shared.config.read();
        let data = cfg.data_config();
        let limits = EncodeLimits {
            compress: data.rdb_compression,
            list_max_listpack_size: data.list_max_listpack_size,
            hash_max_listpack_entries: data.hash_max_listpack_entries,
            hash_max_listpack_value: data.hash_max_listpack_value,
            set_max_intset_entries: data.set_max_intset_entries,
            zset_max_listpack_entries: data.zset_max_listpack_entries,
            zset_max_listpack_value: data.zset_max_listpack_value,
        };
        (cfg.rdb_path(), limits, data.rdb_checksum)
    };
    let dirty_before = shared.stats.dirty.load(Ordering::Relaxed);
    let result = write_snapshot(shared, &path, limits, checksum);
    let mut st = shared.persist.lock();
    st.saving = false;
    st.last_save_ok = result.is_ok();
    match &result {
        Ok(keys) => {
            st.rdb_saves += 1;
            shared.stats.dirty.fetch_sub(dirty_before, Ordering::Relaxed);
            shared.lastsave_s.store(now_ms() / 1000, Ordering::Relaxed);
            notice!("DB saved on disk ({keys} keys)");
        }
        Err(e) => warning!("Failed opening the temp RDB file {} (in server root dir): {e}", path.display()),
    }
    result.map(|_| ())
}

/// Writes the snapshot with every slot locked; returns how many keys it holds.
fn write_snapshot(shared: &Shared, path: &Path, limits: EncodeLimits, checksum: bool) -> std::io::Result<u64> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temp = dir.join(format!("temp-{}.rdb", std::process::id()));
    let file = std::fs::File::create(&temp)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let now = now_ms();
    let mut w = RdbWriter::new(limits, checksum);
    w.aux(b"redis-ver", crate::info::REDIS_VERSION.as_bytes());
    w.aux(b"redis-bits", b"64");
    w.aux(b"ctime", (now / 1000).to_string().as_bytes());
    w.aux(b"used-mem", b"0");
    w.aux(b"aof-base", b"0");
    let used: Vec<u32> =
        (0..shared.ks.db_count()).filter(|&d| shared.ks.db_if_used(d).is_some()).map(|d| d as u32).collect();
    let mut wanted: Vec<(u32, u16)> = used.iter().flat_map(|&d| (0..SLOT_COUNT as u16).map(move |s| (d, s))).collect();
    let mut locks = LockSet::new();
    locks.lock(&shared.ks, &mut wanted);
    let mut keys = 0u64;
    for &d in &used {
        let (mut n, mut with_expiry) = (0u64, 0u64);
        for s in 0..SLOT_COUNT as u16 {
            if let Some(t) = locks.held(d, s) {
                n += t.len() as u64;
                with_expiry += t.expires_len() as u64;
            }
        }
        if n == 0 {
            continue;
        }
        w.select_db(d as u64, n, with_expiry);
        for s in 0..SLOT_COUNT as u16 {
            let Some(t) = locks.held(d, s) else { continue };
            for (key, value) in t.iter() {
                let expire = t.expire_at(key.as_bytes());
                // Keys whose time has passed are not written (a master would drop them on load).
                if expire.is_some_and(|at| at <= now) {
                    continue;
                }
                w.key(key.as_bytes(), value, expire);
                keys += 1;
            }
            out.write_all(&w.take_bytes())?;
        }
    }
    drop(locks);
    out.write_all(&w.finish())?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(keys)
}

/// Redis's `rdbLoad` at start-up: fills the keyspace from the RDB file if there is one. Keys
/// whose expiry has passed are dropped, as a master does. A file that cannot be read whole is
/// an error: the caller stops start-up rather than run with part of the data.
pub fn load_at_startup(shared: &Shared) -> anyhow::Result<()> {
    let path = shared.config.read().rdb_path();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => anyhow::bail!("Fatal error loading the DB: {e}. Exiting."),
    };
    let started = std::time::Instant::now();
    let now = now_ms();
    let mut reader = RdbReader::new(&bytes)
        .map_err(|e| anyhow::anyhow!("Wrong signature or version trying to load DB from file: {e}"))?;
    let (mut loaded, mut expired) = (0u64, 0u64);
    let mut db = 0usize;
    loop {
        let item = reader.next_item().map_err(|e| {
            anyhow::anyhow!(
                "Internal error in RDB reading offset {}: {e}. Short read or OOM loading DB. Unrecoverable error, aborting now.",
                reader.position()
            )
        })?;
        let Some(item) = item else { break };
        match item {
            RdbItem::Aux { key, value } => match key.as_slice() {
                b"redis-ver" => notice!("Loading RDB produced by version {}", String::from_utf8_lossy(&value)),
                b"ctime" => {
                    let ctime: i64 = String::from_utf8_lossy(&value).parse().unwrap_or(now / 1000);
                    notice!("RDB age {} seconds", (now / 1000 - ctime).max(0));
                }
                _ => {}
            },
            RdbItem::SelectDb(d) => {
                if d >= shared.ks.db_count() as u64 {
                    anyhow::bail!("FATAL: Data file was created with a Redis server configured to handle more than {} databases. Exiting", shared.ks.db_count());
                }
                db = d as usize;
            }
            RdbItem::ResizeDb { .. } => {}
            RdbItem::Function(_) => {
                warning!("The RDB file holds a function library; redoxide has no scripting yet, so it was skipped");
            }
            RdbItem::Key { key, value, expire_at_ms } => {
                if expire_at_ms.is_some_and(|at| at <= now) {
                    expired += 1;
                    continue;
                }
                let mut t = shared.ks.db(db).lock_slot(key_hash_slot(&key));
                if t.contains(&key, now) {
                    anyhow::bail!("RDB has duplicated key '{}' in DB {db}", String::from_utf8_lossy(&key));
                }
                t.set(&key, value);
                if let Some(at) = expire_at_ms {
                    t.set_expire(&key, at);
                }
                loaded += 1;
            }
        }
    }
    notice!("Done loading RDB, keys loaded: {loaded}, keys expired: {expired}.");
    notice!("DB loaded from disk: {:.3} seconds", started.elapsed().as_secs_f64());
    let mut st = shared.persist.lock();
    st.last_load_keys_loaded = loaded;
    st.last_load_keys_expired = expired;
    Ok(())
}

/// Redis's shutdown rule: save if save points are configured (or SHUTDOWN SAVE asked for it),
/// unless NOSAVE. Returns false if a save was needed and failed.
pub fn save_for_shutdown(shared: &Shared, force_save: bool, no_save: bool) -> bool {
    let configured = !shared.config.read().save_params().is_empty();
    if no_save || !(configured || force_save) {
        return true;
    }
    notice!("Saving the final RDB snapshot before exiting.");
    match save(shared) {
        Ok(()) => true,
        Err(_) => {
            warning!("Error trying to save the DB, can't exit.");
            false
        }
    }
}
