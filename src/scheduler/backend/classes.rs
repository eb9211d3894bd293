//! Storage classes and their routes: a class asks for N copies, each
//! routed to its own pool (two copies never share a pool, so never a
//! cartridge); a file's copies are queued, written and recorded apart.

use crate::scheduler::sql::{Conn, params};
use crate::scheduler::*;

pub(super) fn add_class(c: &mut dyn Conn, name: &str, copies: u64) -> Result<(), SchedulerError> {
    if name.is_empty() || !(1..=9).contains(&copies) {
        return Err(SchedulerError::Invalid(format!(
            "storage class {name:?} with {copies} copies: expected a name and 1 to 9 copies"
        )));
    }
    if c.query_opt(
        "SELECT 1 FROM storage_classes WHERE name = $1",
        params![name],
    )?
    .is_some()
    {
        return Err(SchedulerError::Invalid(format!(
            "storage class {name} already exists"
        )));
    }
    c.execute(
        "INSERT INTO storage_classes (name, copies) VALUES ($1, $2)",
        params![name, copies],
    )?;
    Ok(())
}

pub(super) fn add_route(
    c: &mut dyn Conn,
    class: &str,
    copy_nb: u64,
    pool: &str,
) -> Result<(), SchedulerError> {
    let Some(r) = c.query_opt(
        "SELECT copies FROM storage_classes WHERE name = $1",
        params![class],
    )?
    else {
        return Err(SchedulerError::Invalid(format!(
            "no storage class named {class:?} (tapeadmin add-class {class} --copies N)"
        )));
    };
    let copies: u64 = r.get(0)?;
    if copy_nb == 0 || copy_nb > copies {
        return Err(SchedulerError::Invalid(format!(
            "storage class {class} has copies 1 to {copies}, not {copy_nb}"
        )));
    }
    super::pools::check_pool(c, pool)?;
    for r in c.query(
        "SELECT copy_nb, pool FROM routes WHERE class = $1",
        params![class],
    )? {
        let (n, p): (u64, String) = (r.get(0)?, r.get(1)?);
        if n == copy_nb {
            return Err(SchedulerError::Invalid(format!(
                "copy {copy_nb} of class {class} already goes to pool {p}"
            )));
        }
        if p == pool {
            return Err(SchedulerError::Invalid(format!(
                "pool {pool} already takes copy {n} of class {class}: two copies never share a pool"
            )));
        }
    }
    c.execute(
        "INSERT INTO routes (class, copy_nb, pool) VALUES ($1, $2, $3)",
        params![class, copy_nb, pool],
    )?;
    Ok(())
}

pub(super) fn classes(c: &mut dyn Conn) -> Result<Vec<StorageClass>, SchedulerError> {
    let mut out: Vec<StorageClass> = Vec::new();
    for r in c.query(
        "SELECT name, copies FROM storage_classes ORDER BY name",
        params![],
    )? {
        out.push(StorageClass {
            name: r.get(0)?,
            copies: r.get(1)?,
            routes: Vec::new(),
        });
    }
    for r in c.query(
        "SELECT class, copy_nb, pool FROM routes ORDER BY class, copy_nb",
        params![],
    )? {
        let class: String = r.get(0)?;
        if let Some(k) = out.iter_mut().find(|k| k.name == class) {
            k.routes.push((r.get(1)?, r.get(2)?));
        }
    }
    Ok(out)
}

/// Every copy of a file on tape, by copy number.
pub(super) fn copies_of(c: &mut dyn Conn, file_id: u64) -> Result<Vec<CopyInfo>, SchedulerError> {
    Ok(copies_of_files(c, &[file_id])?
        .remove(&file_id)
        .unwrap_or_default())
}

/// The copies of several files, in one statement per chunk of ids.
pub(super) fn copies_of_files(
    c: &mut dyn Conn,
    file_ids: &[u64],
) -> Result<std::collections::HashMap<u64, Vec<CopyInfo>>, SchedulerError> {
    use crate::scheduler::sql::Value;
    let mut out: std::collections::HashMap<u64, Vec<CopyInfo>> = Default::default();
    for chunk in file_ids.chunks(500) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let values: Vec<Value> = chunk.iter().map(|id| Value::from(*id)).collect();
        for r in c.query(
            &format!(
                "SELECT t.file_id, t.copy_nb, t.vid, t.fseq, t.block_id, t.bad, tp.state
                 FROM tape_files t JOIN tapes tp ON tp.vid = t.vid
                 WHERE t.file_id IN ({}) ORDER BY t.file_id, t.copy_nb",
                list.join(", ")
            ),
            &values,
        )? {
            out.entry(r.get(0)?).or_default().push(CopyInfo {
                copy_nb: r.get(1)?,
                vid: r.get(2)?,
                fseq: r.get(3)?,
                block_id: r.get(4)?,
                bad: r.get(5)?,
                tape_state: r.get(6)?,
            });
        }
    }
    Ok(out)
}
