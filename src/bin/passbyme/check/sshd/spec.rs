//! Connection specs for `sshd -T -C`, and the candidate values a `Match` criterion's
//! patterns stand for (user and host names, addresses inside a network).

/// The connection the checks ask about when a criterion does not constrain it: names and
/// documentation addresses (RFC 5737) that no real client has.
pub const DEFAULT_USER: &str = "passbyme-check";
pub const DEFAULT_HOST: &str = "passbyme-check.invalid";
pub const DEFAULT_ADDR: &str = "192.0.2.1";
pub const DEFAULT_LADDR: &str = "192.0.2.2";

/// A connection spec for `sshd -T -C`.
#[derive(Clone)]
pub struct Spec {
    pub user: String,
    pub host: String,
    pub addr: String,
    pub laddr: String,
    pub lport: String,
    pub rdomain: Option<String>,
}

impl Spec {
    pub fn new(lport: &str) -> Spec {
        Spec {
            user: DEFAULT_USER.into(),
            host: DEFAULT_HOST.into(),
            addr: DEFAULT_ADDR.into(),
            laddr: DEFAULT_LADDR.into(),
            lport: lport.into(),
            rdomain: None,
        }
    }
    pub fn text(&self) -> String {
        let mut s = format!(
            "user={},host={},addr={},laddr={},lport={}",
            self.user, self.host, self.addr, self.laddr, self.lport
        );
        if let Some(r) = &self.rdomain {
            s += &format!(",rdomain={r}");
        }
        s
    }
}

/// `*` and `?` of a pattern filled with `fill`.
pub(super) fn filled(p: &str, fill: &str) -> String {
    p.replace('*', fill).replace('?', &fill[..1])
}

/// Addresses inside an address pattern (`10.0.0.0/8`, `192.168.*`, `2001:db8::1`).
pub(super) fn addresses(p: &str) -> Vec<String> {
    use std::net::IpAddr;
    if let Some((net, bits)) = p.split_once('/') {
        let (Ok(ip), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
            return Vec::new();
        };
        return match ip {
            IpAddr::V4(v4) => in_network(u128::from(u32::from(v4)), bits, 32)
                .into_iter()
                .filter_map(|a| u32::try_from(a).ok())
                .map(|a| std::net::Ipv4Addr::from(a).to_string())
                .collect(),
            IpAddr::V6(v6) => in_network(u128::from(v6), bits, 128)
                .into_iter()
                .map(|a| std::net::Ipv6Addr::from(a).to_string())
                .collect(),
        };
    }
    if !p.contains(['*', '?']) {
        return vec![p.to_owned()];
    }
    ["1", "1.1", "1.1.1", "2", "2.2", "2.2.2"]
        .iter()
        .map(|f| p.replace('*', f).replace('?', "1"))
        .filter(|a| a.parse::<IpAddr>().is_ok())
        .collect()
}

/// The candidate addresses of the network `n/bits` in an address space `width` bits wide
/// (32 or 128): the first two hosts, the last but one, and the network itself, in that
/// order, each kept only inside the network (sums saturate at the top of the space).
fn in_network(n: u128, bits: u32, width: u32) -> Vec<u128> {
    let top = u128::MAX >> (128 - width);
    let host = width.saturating_sub(bits);
    let mask = if host >= width {
        0
    } else {
        (top << host) & top
    };
    let first = n & mask;
    let last = first | (!mask & top);
    [
        first.saturating_add(1).min(top),
        first.saturating_add(2).min(top),
        last.saturating_sub(1),
        first,
    ]
    .into_iter()
    .filter(|&a| a >= first && a <= last)
    .collect()
}

/// The positive patterns of a list (`a,!b,c*`): what a value may be made from.
pub(super) fn positives(list: &str) -> Vec<&str> {
    list.split(',')
        .filter(|p| !p.is_empty() && !p.starts_with('!'))
        .collect()
}

/// One criterion's way to change a spec, and the values to try.
pub(super) enum Choice {
    User(Vec<String>),
    Host(Vec<String>),
    Addr(Vec<String>),
    LAddr(Vec<String>),
    LPort(Vec<String>),
    RDomain(Vec<String>),
}

impl Choice {
    pub(super) fn len(&self) -> usize {
        match self {
            Choice::User(v)
            | Choice::Host(v)
            | Choice::Addr(v)
            | Choice::LAddr(v)
            | Choice::LPort(v)
            | Choice::RDomain(v) => v.len(),
        }
    }
    pub(super) fn apply(&self, i: usize, s: &mut Spec) {
        match self {
            Choice::User(v) => s.user = v[i].clone(),
            Choice::Host(v) => s.host = v[i].clone(),
            Choice::Addr(v) => s.addr = v[i].clone(),
            Choice::LAddr(v) => s.laddr = v[i].clone(),
            Choice::LPort(v) => s.lport = v[i].clone(),
            Choice::RDomain(v) => s.rdomain = Some(v[i].clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_inside_patterns() {
        assert_eq!(addresses("10.0.0.0/8")[0], "10.0.0.1");
        assert_eq!(addresses("192.0.2.7/32"), ["192.0.2.7"]);
        assert_eq!(addresses("192.168.*")[0], "192.168.1.1");
        assert_eq!(addresses("2001:db8::/32")[0], "2001:db8::1");
        // The candidates in order: first+1, first+2, last-1, the network itself; those
        // outside the network dropped, at the top of the range saturated, not wrapped.
        assert_eq!(
            addresses("10.1.2.0/24"),
            ["10.1.2.1", "10.1.2.2", "10.1.2.254", "10.1.2.0"]
        );
        assert_eq!(
            addresses("10.1.2.4/31"),
            ["10.1.2.5", "10.1.2.4", "10.1.2.4"]
        );
        assert_eq!(
            addresses("255.255.255.255/32"),
            ["255.255.255.255", "255.255.255.255", "255.255.255.255"]
        );
        assert_eq!(
            addresses("0.0.0.0/0"),
            ["0.0.0.1", "0.0.0.2", "255.255.255.254", "0.0.0.0"]
        );
        assert_eq!(
            addresses("2001:db8::/126"),
            ["2001:db8::1", "2001:db8::2", "2001:db8::2", "2001:db8::"]
        );
        assert_eq!(
            addresses("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128").len(),
            3
        );
        assert_eq!(
            addresses("::/0")[2],
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"
        );
        assert_eq!(addresses("10.0.0.0/40"), ["10.0.0.0"]);
        assert!(addresses("10.0.0.0/x").is_empty());
        assert_eq!(addresses("192.0.2.9"), ["192.0.2.9"]);
    }
}
