//! The `list` command group.

use crate::registry::Registry;

pub fn register(_r: &mut Registry) {}
