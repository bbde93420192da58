//! The commands redoxide implements: name → metadata + handler. Only registered commands
//! appear in COMMAND; anything else is an unknown command, as in Redis.

use crate::ctx::Ctx;
use crate::errors;
use crate::meta::{self, CommandMeta};
// hashbrown's default hasher (foldhash) rather than std's SipHash: the registry is looked up once
// per request, and its keys are a fixed set of command names no client can add to, so SipHash's
// flooding resistance buys nothing here.
use hashbrown::HashMap;

/// A data command's implementation.
pub type Handler = fn(&mut Ctx<'_, '_>, &[&[u8]]);

/// How a command is executed.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Runs in this crate against the keyspace.
    Data(Handler),
    /// Needs server state (clients, config, replication...); the server owns the handler,
    /// identified by this number in its own table.
    Server(u16),
    /// A container (CONFIG, CLIENT, OBJECT...) whose subcommands are registered separately.
    Container,
}

/// One registered command or subcommand.
#[derive(Debug)]
pub struct Entry {
    pub meta: &'static CommandMeta,
    pub kind: Kind,
    /// Small number naming this entry (see [`Registry::name_of`]), cheap to store per client.
    pub id: u16,
    subcommands: HashMap<Vec<u8>, Entry>,
}

impl Entry {
    pub fn subcommands(&self) -> impl Iterator<Item = &Entry> {
        self.subcommands.values()
    }
}

/// Why a request names no runnable command.
#[derive(Debug, PartialEq, Eq)]
pub enum LookupError {
    /// The full error reply text (unknown command, unknown subcommand, wrong arity).
    Reply(errors::ErrorText),
}

#[derive(Debug, Default)]
pub struct Registry {
    commands: HashMap<Vec<u8>, Entry>,
    names: Vec<&'static str>,
}

impl Registry {
    /// Every data command this crate implements.
    pub fn with_data_commands() -> Registry {
        let mut r = Registry::default();
        crate::register_all(&mut r);
        r
    }

    /// Registers `name` (`get`, or `config|get` for a subcommand) with its handler. Names
    /// Redis 7.0.15 does not have are ignored, so a typo cannot invent a command.
    pub fn add(&mut self, name: &str, kind: Kind) {
        let (parent, sub) = match name.split_once('|') {
            Some((p, s)) => (p, Some(s)),
            None => (name, None),
        };
        let Some(pmeta) = meta::find(parent) else {
            return;
        };
        let names = &mut self.names;
        let entry = self.commands.entry(parent.as_bytes().to_vec()).or_insert_with(|| {
            names.push(&pmeta.name);
            Entry {
                meta: pmeta,
                kind: if pmeta.subcommands.is_empty() { kind } else { Kind::Container },
                id: (names.len() - 1) as u16,
                subcommands: HashMap::new(),
            }
        });
        if let Some(sub) = sub {
            if let Some(smeta) = pmeta.subcommand(sub.as_bytes()) {
                names.push(&smeta.name);
                let id = (names.len() - 1) as u16;
                entry
                    .subcommands
                    .insert(sub.as_bytes().to_vec(), Entry { meta: smeta, kind, id, subcommands: HashMap::new() });
            }
        } else {
            entry.kind = kind;
        }
    }

    /// `rename-command from to`, as Redis applies it to its command table: the command leaves
    /// the table under `from` and, unless `to` is empty, comes back under `to` (its own name,
    /// which COMMAND and the logs show, stays). False when no command is called `from`.
    pub fn rename(&mut self, from: &[u8], to: &[u8]) -> bool {
        let Some(entry) = self.commands.remove(&from.to_ascii_lowercase()) else {
            return false;
        };
        if !to.is_empty() {
            self.commands.insert(to.to_ascii_lowercase(), entry);
        }
        true
    }

    /// Number of entry ids handed out (top-level commands and subcommands).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The full name of the entry with this id (`get`, `client|list`); empty if unknown.
    pub fn name_of(&self, id: u16) -> &'static str {
        self.names.get(id as usize).copied().unwrap_or("")
    }

    /// Top-level commands, for COMMAND / COMMAND COUNT / COMMAND LIST.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.commands.values()
    }

    /// Finds a top-level command by name, case-insensitively.
    pub fn get(&self, name: &[u8]) -> Option<&Entry> {
        get_lowercase(&self.commands, name)
    }

    /// The command or subcommand a request names, without checking its arity: what Redis
    /// charges a rejected call to. None for an unknown command or subcommand.
    pub fn resolve(&self, args: &[&[u8]]) -> Option<&Entry> {
        let base = self.get(args.first()?)?;
        if !base.meta.subcommands.is_empty() && args.len() >= 2 {
            get_lowercase(&base.subcommands, args[1])
        } else {
            Some(base)
        }
    }

    /// Resolves a request to the command (or subcommand) to run, checking arity, with Redis's
    /// error texts for an unknown command, unknown subcommand or wrong argument count.
    pub fn lookup(&self, args: &[&[u8]]) -> Result<&Entry, LookupError> {
        let Some(base) = self.get(args[0]) else {
            return Err(LookupError::Reply(errors::unknown_command(args)));
        };
        let entry = if !base.meta.subcommands.is_empty() && args.len() >= 2 {
            match get_lowercase(&base.subcommands, args[1]) {
                Some(sub) => sub,
                None => return Err(LookupError::Reply(errors::unknown_subcommand(args[0], args[1]))),
            }
        } else {
            base
        };
        let arity = entry.meta.arity;
        let argc = args.len() as i32;
        if (arity > 0 && arity != argc) || argc < -arity {
            return Err(LookupError::Reply(errors::wrong_arity(&entry.meta.name).into()));
        }
        Ok(entry)
    }
}

/// Looks `name` up case-insensitively in a map keyed by lowercase names, without allocating for
/// any name short enough to be a command (the longest Redis command name has 27 bytes; a longer
/// one is lowercased on the heap and simply not found).
fn get_lowercase<'m>(map: &'m HashMap<Vec<u8>, Entry>, name: &[u8]) -> Option<&'m Entry> {
    let mut buf = [0u8; 32];
    if name.len() <= buf.len() {
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        map.get(&lower[..])
    } else {
        map.get(&name.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop(_: &mut Ctx<'_, '_>, _: &[&[u8]]) {}

    #[test]
    fn lookup_errors_match_redis() {
        let mut r = Registry::default();
        r.add("get", Kind::Data(noop));
        r.add("config|get", Kind::Server(1));
        assert!(r.lookup(&[b"GeT", b"k"]).is_ok());
        assert_eq!(
            r.lookup(&[b"get"]).unwrap_err(),
            LookupError::Reply("ERR wrong number of arguments for 'get' command".into())
        );
        assert_eq!(
            r.lookup(&[b"foo", b"a", b"b"]).unwrap_err(),
            LookupError::Reply("ERR unknown command 'foo', with args beginning with: 'a' 'b' ".into())
        );
        assert_eq!(
            r.lookup(&[b"config", b"nope"]).unwrap_err(),
            LookupError::Reply("ERR unknown subcommand 'nope'. Try CONFIG HELP.".into())
        );
        assert_eq!(
            r.lookup(&[b"config"]).unwrap_err(),
            LookupError::Reply("ERR wrong number of arguments for 'config' command".into())
        );
        assert_eq!(r.lookup(&[b"config", b"GET", b"x"]).unwrap().meta.name, "config|get");
        assert_eq!(r.resolve(&[b"config", b"GET"]).unwrap().meta.name, "config|get");
        assert!(r.resolve(&[b"config", b"nope"]).is_none());
        assert_eq!(r.resolve(&[b"get"]).unwrap().meta.name, "get");
        r.add("nosuchcommand", Kind::Server(2));
        assert!(r.get(b"nosuchcommand").is_none());
    }

    #[test]
    fn renamed_commands_answer_to_their_new_name_only() {
        let mut r = Registry::with_data_commands();
        assert!(r.rename(b"GET", b"Fetch"));
        assert!(r.get(b"get").is_none());
        assert_eq!(r.get(b"FETCH").map(|e| e.meta.name.as_str()), Some("get"));
        assert!(matches!(r.lookup(&[b"get", b"k"]), Err(LookupError::Reply(_))));
        assert!(r.lookup(&[b"fetch", b"k"]).is_ok());
        assert!(r.rename(b"set", b""));
        assert!(r.get(b"set").is_none());
        assert!(!r.rename(b"nosuch", b"x"));
    }
}
