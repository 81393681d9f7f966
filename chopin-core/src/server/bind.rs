//! Turning `SERVER_HOST:SERVER_PORT` into listening sockets.

use std::{
    io,
    net::{SocketAddr, TcpListener},
};

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::Error;

/// Standard mode: one listener on the first resolved address that binds.
pub(super) async fn one(host: &str, port: u16) -> Result<tokio::net::TcpListener, Error> {
    first_that_binds(host, port, |addr| async move {
        tokio::net::TcpListener::bind(addr).await
    })
    .await
}

/// Performance mode: `count` listeners sharing one address with `SO_REUSEPORT`, so the
/// kernel spreads connections over them.
///
/// A plain bind first checks the address is free: `SO_REUSEPORT` alone would let a
/// second process join the first one's group and silently take part of its traffic.
/// It also turns port `0` into one concrete port for every listener.
pub(super) async fn reuseport(
    host: &str,
    port: u16,
    count: usize,
    backlog: u32,
) -> Result<Vec<TcpListener>, Error> {
    let addr = first_that_binds(host, port, |addr| async move {
        let probe = socket(addr)?;
        probe.bind(&addr.into())?;
        probe
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket address"))
    })
    .await?;
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    (0..count)
        .map(|_| {
            let socket = socket(addr)?;
            socket.set_reuse_port(true)?;
            socket.bind(&addr.into())?;
            socket.listen(backlog)?;
            Ok(TcpListener::from(socket))
        })
        .collect::<io::Result<_>>()
        .map_err(|e| Error::bind(addr, e))
}

fn socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Restarts must not wait out TIME_WAIT; this does not allow sharing a live listener.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

async fn first_that_binds<T, F, Fut>(host: &str, port: u16, bind: F) -> Result<T, Error>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Error::resolve(host, e))?;
    let mut last_error = None;
    for addr in addrs {
        match bind(addr).await {
            Ok(bound) => return Ok(bound),
            Err(e) => last_error = Some(Error::bind(addr, e)),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        Error::resolve(
            host,
            io::Error::new(io::ErrorKind::NotFound, "no addresses"),
        )
    }))
}
