//! Just enough HTTP/1.1 for the emulator: read requests (httparse, `Content-Length` bodies,
//! keep-alive) from any byte stream, and write responses.

use std::io::{self, Read};

/// Request bodies above this are refused.
pub const MAX_BODY: usize = 64 * 1024;
/// Request heads (request line + headers) above this are refused.
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// One parsed request.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// The client asked to close after this request (or spoke HTTP/1.0 without keep-alive).
    pub close: bool,
}

impl Request {
    /// The first header with this name (case-insensitive), whitespace-trimmed.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim_ascii())
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The target for a log line: control characters replaced, long ones shortened.
    pub fn log_target(&self) -> String {
        let mut s: String = self
            .target
            .chars()
            .take(120)
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        if self.target.chars().count() > 120 {
            s.push('…');
        }
        s
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed (or timed out) between requests: the normal end of a connection.
    Closed,
    /// Not HTTP we can parse; answer a plain 400 and close.
    Malformed(&'static str),
    /// The body is larger than [`MAX_BODY`]; the head is parsed, the body is not read.
    TooLarge(Request),
}

/// Reads requests from one connection, keeping bytes that belong to the next request.
#[derive(Default)]
pub struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    pub fn read_request(&mut self, stream: &mut impl Read) -> Result<Request, ReadError> {
        loop {
            if !self.buf.is_empty() {
                if let Some((head_len, mut req, content_length)) = parse_head(&self.buf)? {
                    if content_length > MAX_BODY {
                        req.close = true;
                        return Err(ReadError::TooLarge(req));
                    }
                    let total = head_len + content_length;
                    while self.buf.len() < total {
                        if !self.fill(stream)? {
                            return Err(ReadError::Closed);
                        }
                    }
                    req.body = self.buf[head_len..total].to_vec();
                    self.buf.drain(..total);
                    return Ok(req);
                }
                if self.buf.len() > MAX_HEAD {
                    return Err(ReadError::Malformed("request head too large"));
                }
            }
            if !self.fill(stream)? {
                return Err(ReadError::Closed);
            }
        }
    }

    /// Read more bytes; `false` at end of stream or on an I/O error (timeouts included).
    fn fill(&mut self, stream: &mut impl Read) -> Result<bool, ReadError> {
        let mut chunk = [0u8; 8192];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Ok(false),
            }
        }
    }
}

/// Parse a complete request head: (head length, request without body, content length).
fn parse_head(buf: &[u8]) -> Result<Option<(usize, Request, usize)>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ReadError::Malformed("too many headers"))
        }
        Err(_) => return Err(ReadError::Malformed("not an HTTP/1.x request")),
    };
    let method = parsed.method.unwrap_or("").to_owned();
    let target = parsed.path.unwrap_or("").to_owned();
    let version = parsed.version.unwrap_or(1);
    let headers: Vec<(String, Vec<u8>)> = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()))
        .collect();

    let mut content_length: Option<usize> = None;
    let mut connection = String::new();
    for (name, value) in &headers {
        if name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or(ReadError::Malformed("bad Content-Length"))?;
            if content_length.is_some_and(|old| old != n) {
                return Err(ReadError::Malformed("conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ReadError::Malformed(
                "Transfer-Encoding is not supported: send a Content-Length",
            ));
        } else if name.eq_ignore_ascii_case("connection") {
            connection.push_str(&String::from_utf8_lossy(value).to_ascii_lowercase());
            connection.push(',');
        }
    }
    let tokens = || connection.split(',').map(str::trim);
    let close = if version == 0 {
        !tokens().any(|t| t == "keep-alive")
    } else {
        tokens().any(|t| t == "close")
    };
    let req = Request {
        method,
        target,
        headers,
        body: Vec::new(),
        close,
    };
    Ok(Some((head_len, req, content_length.unwrap_or(0))))
}

/// A response to write.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, body: Vec<u8>) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body,
        }
    }

    pub fn empty(status: u16) -> Self {
        Response::new(status, Vec::new())
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_default();
        Response::new(status, body).header("Content-Type", "application/json")
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The bytes on the wire. `extra_length` inflates `Content-Length` (the `truncated` fault).
    pub fn to_bytes(&self, close: bool, extra_length: usize) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        head.push_str("Server: passbyme-emulator\r\n");
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\n",
            self.body.len() + extra_length
        ));
        head.push_str(if close {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        });
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        420 => "Method Failure",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that hands out its bytes in small pieces.
    struct Trickle(Vec<u8>, usize);

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            Ok(n)
        }
    }

    #[test]
    fn keep_alive_requests_in_pieces() {
        let wire = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b?q=1 HTTP/1.1\r\nConnection: close\r\n\r\n";
        let mut s = Trickle(wire.to_vec(), 7);
        let mut r = Reader::default();
        let a = r.read_request(&mut s).unwrap();
        assert_eq!(
            (a.method.as_str(), a.path(), &a.body[..], a.close),
            ("POST", "/a", &b"hello"[..], false)
        );
        let b = r.read_request(&mut s).unwrap();
        assert_eq!(
            (b.method.as_str(), b.path(), b.target.as_str(), b.close),
            ("GET", "/b", "/b?q=1", true)
        );
        assert!(matches!(r.read_request(&mut s), Err(ReadError::Closed)));
    }

    #[test]
    fn refusals() {
        let mut r = Reader::default();
        let big = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert!(matches!(
            r.read_request(&mut big.as_bytes()),
            Err(ReadError::TooLarge(_))
        ));
        for bad in [
            &b"\x16\x03\x01garbage\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            let mut r = Reader::default();
            assert!(matches!(
                r.read_request(&mut &bad[..]),
                Err(ReadError::Malformed(_))
            ));
        }
        let http10 = b"GET / HTTP/1.0\r\n\r\n";
        assert!(
            Reader::default()
                .read_request(&mut &http10[..])
                .unwrap()
                .close
        );
    }
}
