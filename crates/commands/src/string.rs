//! String commands: GET, SET and the rest of Redis's `string` group.

use crate::ctx::Ctx;
use crate::errors;
use crate::registry::{Kind, Registry};
use keyspace::{StrValue, Value};

pub fn register(r: &mut Registry) {
    r.add("get", Kind::Data(get));
    r.add("set", Kind::Data(set));
}

/// GET key
fn get(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now_ms;
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    match t.get(args[1], now) {
        None => ctx.out.null(),
        Some(Value::Str(StrValue::Raw(s))) => ctx.out.bulk(s),
        Some(Value::Str(StrValue::Int(n))) => ctx.out.bulk_i64(*n),
        Some(_) => ctx.out.error(errors::WRONGTYPE),
    }
}

/// SET key value (options to come: NX|XX, GET, EX|PX|EXAT|PXAT|KEEPTTL)
fn set(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if args.len() != 3 {
        ctx.out.error(errors::SYNTAX);
        return;
    }
    let t = ctx.locks.table(ctx.ks, ctx.db, args[1]);
    t.set(args[1], Value::string(args[2]));
    ctx.dirty(1);
    ctx.out.ok();
}
