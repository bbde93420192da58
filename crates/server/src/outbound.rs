//! Outgoing TCP connections the server opens on its own: cluster bus links and a replica's link
//! to its master. They leave from `bind-source-addr` when it is set, as Redis 7.0's
//! `connConnect(..., server.bind_source_addr, ...)` does, so a node bound to one address of a
//! multi-homed host (or to 127.0.0.x of a test network) is seen by its peers under that address.
//! This module only sets sockets up; it never reads or writes on the connections it makes.

use crate::shared::Shared;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

/// `bind-source-addr` as an address, or `None` when unset. A value that is not an IP address
/// (Redis would fail the connect on it) is ignored here, the connect then leaving from the
/// kernel's choice, rather than cutting the node off from every peer.
pub fn source_addr(shared: &Shared) -> Option<IpAddr> {
    shared.config.read().get("bind-source-addr").and_then(|s| s.trim().parse().ok())
}

/// A socket for `dest`, bound to `source` when it is of the same family. The bind is best
/// effort, as Redis's `anetTcpNonBlockBestEffortBindConnect`: when it fails (the address is
/// gone), the connection still goes out, from the kernel's choice of address.
fn socket_for(dest: SocketAddr, source: Option<IpAddr>) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(dest), Type::STREAM, Some(Protocol::TCP))?;
    if let Some(ip) = source.filter(|ip| ip.is_ipv4() == dest.is_ipv4()) {
        if socket.bind(&SocketAddr::new(ip, 0).into()).is_err() {
            return Socket::new(Domain::for_address(dest), Type::STREAM, Some(Protocol::TCP));
        }
    }
    Ok(socket)
}

/// Starts a non-blocking connect; the caller learns the outcome when the socket turns writable.
pub fn connect_nonblocking(dest: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = socket_for(dest, source)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&dest.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}

/// A blocking connect that gives up after `timeout`.
pub fn connect_timeout(dest: SocketAddr, source: Option<IpAddr>, timeout: Duration) -> io::Result<TcpStream> {
    let socket = socket_for(dest, source)?;
    socket.connect_timeout(&dest.into(), timeout)?;
    Ok(socket.into())
}
