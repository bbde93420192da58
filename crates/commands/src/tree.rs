//! Reply trees: static reply content (COMMAND entries, COMMAND DOCS) kept with its RESP3 types so
//! it can be written for either protocol. Loaded from the JSON the command table is stored in.

use resp::ReplyBuf;
use serde_json::Value as Json;

/// A reply held in memory, with RESP3 types preserved.
#[derive(Clone, Debug, PartialEq)]
pub enum Tree {
    Null,
    Int(i64),
    Bulk(String),
    Simple(String),
    Double(String),
    Array(Vec<Tree>),
    Set(Vec<Tree>),
    Map(Vec<(Tree, Tree)>),
}

impl Tree {
    /// Decodes the JSON form written by tools/gen_command_table.py.
    pub fn from_json(j: &Json) -> Tree {
        match j {
            Json::Null => Tree::Null,
            Json::Bool(b) => Tree::Int(*b as i64),
            Json::Number(n) => Tree::Int(n.as_i64().unwrap_or(0)),
            Json::String(s) => Tree::Bulk(s.clone()),
            Json::Array(items) => Tree::Array(items.iter().map(Tree::from_json).collect()),
            Json::Object(o) => {
                if let Some(Json::String(s)) = o.get("simple") {
                    Tree::Simple(s.clone())
                } else if let Some(Json::String(s)) = o.get("double") {
                    Tree::Double(s.clone())
                } else if let Some(Json::Array(items)) = o.get("set") {
                    Tree::Set(items.iter().map(Tree::from_json).collect())
                } else if let Some(Json::Array(pairs)) = o.get("map") {
                    Tree::Map(
                        pairs
                            .iter()
                            .filter_map(|p| match p {
                                Json::Array(kv) if kv.len() == 2 => {
                                    Some((Tree::from_json(&kv[0]), Tree::from_json(&kv[1])))
                                }
                                _ => None,
                            })
                            .collect(),
                    )
                } else {
                    Tree::Null
                }
            }
        }
    }

    /// Writes the tree as a reply in the buffer's protocol.
    pub fn write(&self, out: &mut ReplyBuf) {
        match self {
            Tree::Null => out.null(),
            Tree::Int(n) => out.int(*n),
            Tree::Bulk(s) => out.bulk(s.as_bytes()),
            Tree::Simple(s) => out.simple(s),
            Tree::Double(s) => {
                if out.is_resp3() {
                    out.raw(format!(",{s}\r\n").as_bytes())
                } else {
                    out.bulk(s.as_bytes())
                }
            }
            Tree::Array(items) => {
                out.array(items.len());
                items.iter().for_each(|t| t.write(out));
            }
            Tree::Set(items) => {
                out.set(items.len());
                items.iter().for_each(|t| t.write(out));
            }
            Tree::Map(pairs) => {
                out.map(pairs.len());
                for (k, v) in pairs {
                    k.write(out);
                    v.write(out);
                }
            }
        }
    }

    /// Looks a key up in a map tree by its string name.
    pub fn get(&self, key: &str) -> Option<&Tree> {
        match self {
            Tree::Map(pairs) => pairs.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Tree::Bulk(s) | Tree::Simple(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Tree::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The elements of an array or set.
    pub fn items(&self) -> &[Tree] {
        match self {
            Tree::Array(v) | Tree::Set(v) => v,
            _ => &[],
        }
    }
}
